"""A provider that does nothing, for the plugin cold-start baseline: only pulumi itself is imported."""

from pulumi.dynamic import CheckResult, ResourceProvider


class TrivialProvider(ResourceProvider):
    def check(self, _olds, news):
        return CheckResult(news, [])
