"""The dreamfactory-infra policy pack: `pulumi preview --policy-pack policy`."""

import os
import sys

import pulumi
from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the analyzer does not put this folder on the path
from rules import RULES, per_instance  # noqa: E402


def as_validator(rule):
    def validate(args, report_violation):
        message = rule(args.resource_type, args.props, pulumi.get_stack())
        if message:
            report_violation(per_instance(message, args.props))

    return validate


PolicyPack(
    name="dreamfactory-infra",
    policies=[
        ResourceValidationPolicy(
            name=name,
            description=description,
            validate=as_validator(rule),
            enforcement_level=EnforcementLevel.MANDATORY if level == "mandatory" else EnforcementLevel.ADVISORY,
        )
        for name, description, rule, level in RULES
    ],
)
