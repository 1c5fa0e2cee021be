"""CertbotHost input validation and script rendering (pure; the lab runs the scripts for real)."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

from components.certbot.scripts import HEALTH_PROBE, STEPS, as_remote_command, parse_outputs, render_script, steps_for
from components.certbot.spec import DISTROS, CertbotConfigError, build_spec

SHELLCHECK = Path(sys.executable).with_name("shellcheck")
BASE = dict(domains=["df.example.com", "www.df.example.com"], email="ops@example.com", agree_tos=True)


MATRIX = list(itertools.product(("auto", *DISTROS), ("nginx", "apache", "standalone", "webroot"), (True, False),
                                ("root", "deploy")))


def test_every_rendered_script_is_shellcheck_clean(tmp_path):
    scripts: dict[str, str] = {}
    for os_family, web_server, installed, user in MATRIX:
        spec = build_spec(**BASE, os_family=os_family, web_server=web_server, install_certificate=installed,
                          extra_ports=["8443"], user=user)
        for step in (*steps_for(spec), HEALTH_PROBE):
            script = render_script(step, spec)
            assert script.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in script
            assert "export LC_ALL=C" in script
            scripts.setdefault(script, f"{step}-{os_family}-{web_server}-{installed}")
    paths = []
    for script, name in scripts.items():
        path = tmp_path / f"{name}.sh"
        path.write_text(script)
        paths.append(str(path))
    result = subprocess.run([str(SHELLCHECK), "-s", "bash", *paths], text=True, capture_output=True)
    assert result.returncode == 0, result.stdout
    assert len(paths) > 50  # the matrix really rendered distinct scripts


def test_values_are_quoted_variables_and_bodies_are_static():
    spec = build_spec(**BASE, os_family="rocky", web_server="webroot", webroot_path="/srv/df public".replace(" ", "_"))
    script = render_script("certificate", spec)
    assert "DOMAINS=(df.example.com www.df.example.com)" in script
    assert "OS_FAMILY_WANTED=rocky" in script and "WEBROOT_PATH=/srv/df_public" in script
    assert "CERTONLY=true" in script  # webroot always runs certonly


@pytest.mark.parametrize(
    "web_server, installed, certonly",
    [("nginx", True, "false"), ("nginx", False, "true"), ("apache", True, "false"), ("standalone", True, "true")],
)
def test_standalone_and_webroot_always_run_certonly(web_server, installed, certonly):
    spec = build_spec(**BASE, web_server=web_server, install_certificate=installed)
    assert f"CERTONLY={certonly}" in render_script("certificate", spec)


def test_acme_server_and_bundle_reach_certificate_and_renewal():
    spec = build_spec(**BASE, acme_server="https://ca.internal:14000/dir", acme_ca_bundle="/etc/ssl/ca.pem")
    for step in ("certificate", "renewal"):
        script = render_script(step, spec)
        assert "ACME_SERVER=https://ca.internal:14000/dir" in script
        assert "ACME_CA_BUNDLE=/etc/ssl/ca.pem" in script
        assert "SERVER=https://ca.internal:14000/dir" in script
    assert 'DRY+=(--server="$ACME_SERVER")' in render_script("renewal", spec)


def test_staging_uses_the_staging_server_for_comparison():
    script = render_script("certificate", build_spec(**BASE, staging=True))
    assert "STAGING=true" in script and "SERVER=https://acme-staging-v02.api.letsencrypt.org/directory" in script


def test_certbot_is_never_forced_except_for_the_guarded_ca_switch():
    script = render_script("certificate", build_spec(**BASE))
    code = [line for line in script.splitlines() if not line.lstrip().startswith("#")]
    assert sum("--force-renewal" in line for line in code) == 1
    assert "FORCE=(--force-renewal)" in script
    assert "--no-random-sleep-on-renew" in render_script("renewal", build_spec(**BASE))
    # The renewal step forces one renewal only for a certificate inside renew_before_days.
    renewal = render_script("renewal", build_spec(**BASE, renew_before_days=40))
    assert renewal.count("--force-renewal") == 1 and "RENEW_BEFORE_DAYS=40" in renewal
    guarded = renewal[renewal.index('-checkend "$RENEW_SECONDS"'):]
    assert guarded.index("--force-renewal") < guarded.index("\nfi\n")


def test_the_health_probe_only_reads():
    probe = render_script(HEALTH_PROBE, build_spec(**BASE))
    body = probe[probe.index("RENEWAL_SERVICE="):]  # after the preamble's helpers and the values
    code = [line.split(" #")[0] for line in body.splitlines() if not line.lstrip().startswith("#")]
    writer = re.compile(r"(^|[;&|(]|\bthen|\bdo|\belse)\s*(ufw (allow|delete|enable)|firewall-cmd [^|]*--(add|remove)-|"
                        r"snap (install|remove)|systemctl (enable|disable|start|stop)|certbot|/usr/bin/certbot|install|"
                        r"owner_dir|rm|mv|cp|tee|sed -i)\b")
    assert [line for line in code if writer.search(line)] == []
    redirects = [line for line in code if ">" in line.replace(">/dev/null", "").replace("2>&1", "")]
    assert redirects == [], redirects


def test_firewall_none_drops_the_firewall_step():
    assert steps_for(build_spec(**BASE, firewall="none")) == STEPS[1:]
    assert steps_for(build_spec(**BASE)) == STEPS


def test_scripts_run_in_bash_whatever_the_login_shell_as_root_or_under_sudo(tmp_path):
    spec = build_spec(**BASE)
    script = render_script("snapd", spec)
    as_root = as_remote_command(script, sudo=False)
    assert as_root.startswith("exec bash -c '") and as_root.endswith(' dreamfactory-infra "${SSH_CONNECTION:-}"\n')
    wrapped = as_remote_command(script, sudo=True)
    assert "exec sudo -n bash -c '" in wrapped and "passwordless sudo" in wrapped
    assert build_spec(**BASE, user="deploy").sudo and not spec.sudo
    # sshd runs the command with the user's login shell: dash must be able to run the wrapper, and the script must
    # get the session's SSH_CONNECTION as its argument.
    probe = as_remote_command('#!/usr/bin/env bash\nset -euo pipefail\necho "bash=$BASH_VERSION arg=$1"', sudo=False)
    result = subprocess.run(["dash", "-c", probe], text=True, capture_output=True,
                            env={"PATH": "/usr/bin:/bin", "SSH_CONNECTION": "198.51.100.1 50000 10.0.0.2 22"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("bash=5") and result.stdout.strip().endswith("arg=198.51.100.1 50000 10.0.0.2 22")


def test_parse_outputs_reads_marker_lines_only():
    stdout = "certificate: requesting\nexpires_at=2031-01-02T03:04:05Z\nserial=0A1B\ncertificate: done (changed=1)"
    assert parse_outputs(stdout) == {"expires_at": "2031-01-02T03:04:05Z", "serial": "0A1B"}
    assert parse_outputs(None) == {}


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"domains": ["df.example.com; rm -rf /"]}, "domains"),
        ({"domains": ["$(reboot).example.com"]}, "domains"),
        ({"domains": ["*.example.com"]}, "domains"),
        ({"domains": ["https://df.example.com"]}, "domains"),
        ({"domains": ["203.0.113.10"]}, "domains"),
        ({"domains": "df.example.com"}, "domains"),
        ({"domains": []}, "domains"),
        ({"email": "ops @example.com"}, "email"),
        ({"email": "a@b.com,c@d.com"}, "email"),
        ({"agree_tos": False}, "agree_tos"),
        ({"web_server": "caddy"}, "web_server"),
        ({"os_family": "arch"}, "os_family"),
        ({"firewall": "iptables"}, "firewall"),
        ({"acme_server": "http://insecure.example/dir"}, "acme_server"),
        ({"acme_server": "https://ca.example/dir", "staging": True}, "acme_server"),
        ({"acme_ca_bundle": "/etc/ca.pem"}, "acme_ca_bundle"),
        ({"webroot_path": "relative/path"}, "webroot_path"),
        ({"extra_ports": ["80; reboot"]}, "extra_ports"),
        ({"cert_name": "../../etc"}, "cert_name"),
        ({"staging": "yes"}, "staging"),
        ({"user": "root; reboot"}, "connection.user"),
        ({"host": "203.0.113.10 && reboot"}, "connection.host"),
        ({"verify_dns": "no"}, "verify_dns"),
        ({"block_other_services": 1}, "block_other_services"),
        # A trailing newline passed validators that ended in `$`; values that start with '-' are flags to certbot.
        ({"domains": ["a\n.example.com"]}, "domains"),
        ({"cert_name": "df\n"}, "cert_name"),
        ({"webroot_path": "/var/www\n"}, "webroot_path"),
        ({"acme_server": "https://ca.example/dir\n"}, "acme_server"),
        ({"acme_server": "https://ca.example/dir", "acme_ca_bundle": "/etc/ca.pem\n"}, "acme_ca_bundle"),
        ({"host": "df.example.com\n"}, "connection.host"),
        ({"user": "deploy\n"}, "connection.user"),
        ({"extra_ports": ["8443\n"]}, "extra_ports"),
        ({"email": "ops@example.com\n-x"}, "email"),
        ({"email": "-ops@example.com"}, "email"),
        ({"email": "--server=https://evil.example@example.com"}, "email"),
        # The component's name becomes its folder on the host: only a safe path segment.
        ({"owner": ".."}, "resource_name"),
        ({"owner": "."}, "resource_name"),
        ({"owner": "-rf"}, "resource_name"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(overrides, field):
    with pytest.raises(CertbotConfigError, match=f"argument '{field}'"):
        build_spec(**{**BASE, **overrides})


def test_domains_are_normalised_and_deduplicated():
    spec = build_spec(**{**BASE, "domains": ["DF.Example.com.", "df.example.com", "www.df.example.com"]})
    assert spec.domains == ("df.example.com", "www.df.example.com")
    assert spec.cert_name is None  # decided on the host: the lineage this component manages, else the first domain
