"""CertbotHost on the hosts operators really have, and through the changes they really make.

Each scenario reproduces a failure of the earlier scripts (issue 10) on a throwaway lab host and checks the outcome
on the host: firewall rules, the served certificate (openssl, SNI), the renewal configuration, the CA's own order
count, whether SSH still connects. Day-2 changes run as run 1 -> changed run 2 (converges) -> run 3 (changes
nothing, orders nothing).
"""

from __future__ import annotations

import re
import subprocess
from typing import Callable, Optional

from tests.lab.hostlab import CLIENT_ADDRESS, DISTROS, HOST_ADDRESS, SSH_USER, HostLab
from tests.lab.test_host_lab import APACHE_SITE, DOMAINS, NGINX_SITE, host_scripts

PUBLIC_ADDRESS = "203.0.113.10"  # documentation range: the NAT'd public address, on no interface of the host
LIVE = "/etc/letsencrypt/live/df.example.com"


def run(lab: HostLab, scripts: dict[str, str], via: Optional[Callable[[str], subprocess.CompletedProcess]] = None,
        upto: Optional[str] = None) -> dict[str, subprocess.CompletedProcess]:
    """Run the steps in order (as root in the host, or through ``via``); stop at the first failure."""
    results = {}
    for step, script in scripts.items():
        results[step] = (via or (lambda command: lab.sh(command, check=False)))(script)
        if results[step].returncode or step == upto:
            break
    return results


def succeeded(results: dict[str, subprocess.CompletedProcess]) -> dict[str, str]:
    for step, result in results.items():
        assert result.returncode == 0, f"{step} failed:\n{result.stdout}\n{result.stderr}"
    return {step: result.stdout for step, result in results.items()}


def unchanged(outputs: dict[str, str]) -> None:
    for step, stdout in outputs.items():
        assert f"{step}: done (changed=0)" in stdout, stdout


def live_serial(lab: HostLab, live: str = LIVE) -> str:
    return lab.sh(f"openssl x509 -in {live}/cert.pem -noout -serial | cut -d= -f2").stdout.strip()


def certificates_kept(lab: HostLab, lineage: str = "df.example.com") -> int:
    """Certificates the lineage ever stored (a dry run stores none)."""
    return len(lab.sh(f"ls /etc/letsencrypt/archive/{lineage}/").stdout.split()) // 4  # cert, chain, fullchain, key


def renewal_conf(lab: HostLab, name: str = "df.example.com") -> str:
    return lab.sh(f"cat /etc/letsencrypt/renewal/{name}.conf").stdout


def ufw_rules(lab: HostLab) -> str:
    return lab.sh("ufw status").stdout


# --- real cloud hosts ---------------------------------------------------------------------------------------------

def test_nat_address_and_cloud_init_hosts_entry_pass_dns_and_a_wrong_record_is_refused_before_any_order():
    with HostLab(DISTROS["ubuntu-24.04"], DOMAINS) as lab:
        lab.connect_client()
        # The public address is on no interface: the cloud's NAT maps it to eth0's private address.
        lab.host_sh(f"ip route add {PUBLIC_ADDRESS}/32 dev eth0 && "
                    f"iptables -t nat -A OUTPUT -d {PUBLIC_ADDRESS} -j DNAT --to-destination {HOST_ADDRESS}")
        lab.sh("echo '127.0.1.1 df.example.com df' >> /etc/hosts")  # cloud-init's FQDN entry
        lab.start_nginx(NGINX_SITE)
        wrong = "www.df.example.com"
        lab.set_dns("df.example.com", PUBLIC_ADDRESS)
        lab.set_dns(wrong, "198.51.100.7")

        refused = run(lab, host_scripts(host=PUBLIC_ADDRESS))
        assert refused["certificate"].returncode == 1
        assert (f"{wrong} resolves to 198.51.100.7, which is neither the address you connect to ({PUBLIC_ADDRESS})"
                in refused["certificate"].stderr)
        assert "set verify_dns=False" in refused["certificate"].stderr
        assert lab.acme_orders() == 0 and not lab.file(LIVE).exists()

        lab.set_dns(wrong, PUBLIC_ADDRESS)
        outputs = succeeded(run(lab, host_scripts(host=PUBLIC_ADDRESS)))
        assert lab.served_serial() == live_serial(lab)  # pebble validated over the NAT'd address
        assert "https_verified=true" in outputs["certificate"]


def test_verify_dns_false_lets_a_proxied_domain_through():
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        lab.start_nginx(NGINX_SITE)
        for name in DOMAINS:
            lab.set_dns(name, "127.0.0.2")  # "the CDN": reaches this host, but is none of its addresses
        scripts = host_scripts(host=PUBLIC_ADDRESS)
        assert run(lab, scripts)["certificate"].returncode == 1
        outputs = succeeded(run(lab, host_scripts(host=PUBLIC_ADDRESS, verify_dns=False)))
        assert "verify_dns=False: not compared with this host" in outputs["certificate"]
        assert certificates_kept(lab) == 1


def test_a_mapped_ssh_port_to_a_custom_sshd_port_never_locks_the_operator_out():
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        lab.connect_client()
        lab.start_sshd(listen="0.0.0.0", port=2200)  # sshd on a custom port
        for name in DOMAINS:
            lab.set_dns(name, HOST_ADDRESS)
        # The load balancer / NAT: the operator connects to 2222, which lands on sshd's 2200.
        lab.host_sh("iptables -t nat -A PREROUTING -i eth0 -p tcp --dport 2222 -j DNAT "
                    f"--to-destination {HOST_ADDRESS}:2200")
        lab.start_nginx(NGINX_SITE)
        scripts = host_scripts(user=SSH_USER, host=HOST_ADDRESS, port=2222, firewall="ufw")
        outputs = succeeded(run(lab, scripts, via=lambda command: lab.client_ssh(command, port=2222)))
        assert "Status: active" in ufw_rules(lab)
        assert "2200/tcp" in ufw_rules(lab)  # the port sshd really listens on
        assert lab.client_ssh("true", port=2222).returncode == 0  # and the operator still gets in
        unchanged(succeeded(run(lab, scripts, via=lambda command: lab.client_ssh(command, port=2222))))
        assert "changed=1" in outputs["firewall"]


def test_an_active_firewall_with_a_restricted_ssh_rule_is_only_added_to():
    with HostLab(DISTROS["ubuntu-22.04"], DOMAINS) as lab:
        lab.connect_client()
        lab.start_sshd(listen="0.0.0.0")
        lab.sh(f"ufw allow from {CLIENT_ADDRESS}/32 to any port 22 proto tcp >/dev/null && ufw --force enable >/dev/null")
        before = ufw_rules(lab)
        outputs = succeeded(run(lab, host_scripts(user=SSH_USER, host=HOST_ADDRESS), upto="firewall",
                                via=lambda command: lab.client_ssh(command)))
        after = ufw_rules(lab)
        assert "allowed 80/tcp" in outputs["firewall"] and "allowed 443/tcp" in outputs["firewall"]
        assert not re.search(r"^22(/tcp)?\s+ALLOW\s+Anywhere", after, re.M)  # SSH not widened
        assert [line for line in before.splitlines() if "22" in line] == [line for line in after.splitlines() if re.match(r"^22\b", line)]


def test_extra_ports_removed_are_closed_and_only_those_the_component_opened():
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        lab.sh("ufw allow 9000/tcp >/dev/null")  # the operator's own rule, from before
        first = host_scripts(extra_ports=["8443/tcp", "9000/tcp"])
        succeeded(run(lab, {"firewall": first["firewall"]}))
        assert "8443/tcp" in ufw_rules(lab) and "9000/tcp" in ufw_rules(lab)
        second = host_scripts(extra_ports=[])
        outputs = succeeded(run(lab, {"firewall": second["firewall"]}))
        assert "closed 8443/tcp" in outputs["firewall"]
        rules = ufw_rules(lab)
        assert "8443/tcp" not in rules and "9000/tcp" in rules  # 9000 was never ours to close
        unchanged(succeeded(run(lab, {"firewall": second["firewall"]})))


def test_ssh_and_web_ports_dropped_from_extra_ports_stay_open_and_ssh_still_connects():
    """Run 1 enables ufw with sshd's port (and 80/443) also listed in extra_ports; run 2 drops them from the list:
    only the truly extra port is closed, and the operator's next SSH connection still gets in."""
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        lab.connect_client()
        lab.start_sshd(listen="0.0.0.0")
        via = lambda command: lab.client_ssh(command)  # noqa: E731 - the operator's own session
        listed = host_scripts(user=SSH_USER, host=HOST_ADDRESS, extra_ports=["22/tcp", "80/tcp", "443/tcp", "8443/tcp"])
        succeeded(run(lab, {"firewall": listed["firewall"]}, via=via))
        assert "Status: active" in ufw_rules(lab)
        dropped = host_scripts(user=SSH_USER, host=HOST_ADDRESS, extra_ports=[])["firewall"]
        second = succeeded(run(lab, {"firewall": dropped}, via=via))["firewall"]
        assert "closed 8443/tcp" in second
        assert lab.client_ssh("true").returncode == 0  # the lockout: 22/tcp was deleted here
        rules = ufw_rules(lab)
        for port in ("22/tcp", "80/tcp", "443/tcp"):
            assert re.search(rf"^{port}\s+ALLOW\s+Anywhere", rules, re.M), rules
        assert "8443/tcp" not in rules
        unchanged(succeeded(run(lab, {"firewall": dropped}, via=via)))


def test_a_custom_sshd_port_dropped_from_extra_ports_stays_open_on_firewalld():
    with HostLab(DISTROS["fedora-40"], DOMAINS) as lab:
        lab.connect_client()
        lab.start_sshd(listen="0.0.0.0", port=2200)
        via = lambda command: lab.client_ssh(command, port=2200)  # noqa: E731
        listed = host_scripts(user=SSH_USER, host=HOST_ADDRESS, port=2200, extra_ports=["2200/tcp", "8443/tcp"])
        succeeded(run(lab, {"firewall": listed["firewall"]}, via=via))
        # An earlier version's record, which listed sshd's port among the extra ports it had opened.
        lab.sh("echo 'extra port 2200/tcp' >> /var/lib/dreamfactory-infra/lab/firewall-rules")
        dropped = host_scripts(user=SSH_USER, host=HOST_ADDRESS, port=2200, extra_ports=[])["firewall"]
        second = succeeded(run(lab, {"firewall": dropped}, via=via))["firewall"]
        assert "closed 8443/tcp in zone public" in second and "kept 2200/tcp open in zone public" in second
        for layer in ("runtime", "permanent"):
            zone = lab.file(f"/var/lib/lab-shims/firewalld/{layer}/public")
            assert (zone / "port" / "2200_tcp").exists() and not (zone / "port" / "8443_tcp").exists()
        assert lab.client_ssh("true", port=2200).returncode == 0
        unchanged(succeeded(run(lab, {"firewall": dropped}, via=via)))


def test_enabling_a_firewall_that_would_cut_another_service_is_refused_until_asked_for():
    with HostLab(DISTROS["ubuntu-24.04"], DOMAINS) as lab:
        lab.spawn("exec python3 -m http.server 5432 --bind 0.0.0.0")
        # Loopback only, as an IPv4-mapped address (a dual-stack socket bound to 127.0.0.1, e.g. a gRPC server):
        # a firewall cannot cut it, so it must not be named.
        lab.spawn("exec python3 -m http.server 5433 --bind ::ffff:127.0.0.1")
        lab.wait_for("ss -Htln 'sport = :5432' | grep -q . && ss -Htln 'sport = :5433' | grep -q .", "the other services")
        refused = run(lab, {"firewall": host_scripts()["firewall"]})["firewall"]
        assert refused.returncode == 1
        assert "would cut services listening on: 5432/tcp (0.0.0.0)." in refused.stderr
        assert "extra_ports" in refused.stderr and "block_other_services=True" in refused.stderr
        assert "Status: inactive" in ufw_rules(lab)  # nothing was changed
        succeeded(run(lab, {"firewall": host_scripts(extra_ports=["5432/tcp"])["firewall"]}))
        assert "5432/tcp" in ufw_rules(lab) and "Status: active" in ufw_rules(lab)


def test_firewalld_rules_go_to_the_zone_in_use_without_a_reload():
    with HostLab(DISTROS["fedora-40"], DOMAINS) as lab:
        lab.sh("mkdir -p /var/lib/lab-shims/firewalld && echo FedoraServer > /var/lib/lab-shims/firewalld/default-zone")
        lab.start_nginx(NGINX_SITE)
        scripts = host_scripts()
        succeeded(run(lab, {"firewall": scripts["firewall"]}))
        # A runtime-only rule, as fail2ban adds; a --reload would drop it.
        lab.sh("firewall-cmd --zone=FedoraServer --add-port=9999/tcp >/dev/null")
        outputs = succeeded(run(lab, host_scripts(extra_ports=["8443/tcp"])))
        for layer in ("runtime", "permanent"):
            zone = lab.file(f"/var/lib/lab-shims/firewalld/{layer}/FedoraServer")
            assert (zone / "service" / "http").exists() and (zone / "service" / "https").exists()
            assert (zone / "port" / "8443_tcp").exists()
        assert lab.file("/var/lib/lab-shims/firewalld/runtime/FedoraServer/port/9999_tcp").exists()
        assert not lab.file("/var/lib/lab-shims/firewalld/runtime/public").exists()
        assert "https_verified=true" in outputs["certificate"]  # its preflight read the same zone
        assert not [call for call in lab.shim_calls() if "--reload" in call]


def test_unreachable_snap_store_leaves_the_distro_certbot_in_place():
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        assert "install ok installed" in lab.sh("dpkg-query -W -f='${Status}' certbot").stdout
        lab.sh("mkdir -p /var/lib/lab-shims/snaps && touch /var/lib/lab-shims/snaps/core /var/lib/lab-shims/snaps/snapd "
               "/var/lib/lab-shims/store-unreachable")
        result = run(lab, {"certbot": host_scripts()["certbot"]})["certbot"]
        assert result.returncode == 1
        assert "could not install the certbot snap" in result.stderr and "api.snapcraft.io" in result.stderr
        assert "install ok installed" in lab.sh("dpkg-query -W -f='${Status}' certbot").stdout
        assert lab.sh("/usr/bin/certbot --version", check=False).returncode == 0  # renewals keep working


def test_pay_as_you_go_rhel_gets_code_ready_builder_from_rhui():
    with HostLab(DISTROS["rhel-9-payg"], DOMAINS) as lab:
        lab.sh("mkdir -p /var/lib/lab-shims/repos-disabled && touch /var/lib/lab-shims/repos-disabled/"
               "codeready-builder-for-rhel-9-rhui-rpms /var/lib/lab-shims/repos/rhel-9-baseos-rhui-rpms")
        scripts = host_scripts()
        outputs = succeeded(run(lab, {"snapd": scripts["snapd"]}))
        assert "codeready-builder-for-rhel-9-rhui-rpms" in outputs["snapd"]
        assert lab.file("/var/lib/lab-shims/repos/codeready-builder-for-rhel-9-rhui-rpms").exists()
        unchanged(succeeded(run(lab, {"snapd": scripts["snapd"]})))


def test_root_with_a_dash_login_shell_runs_every_step_in_bash():
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        lab.connect_client()
        lab.start_sshd(listen="0.0.0.0")
        lab.sh("usermod -s /bin/dash root")
        for name in DOMAINS:
            lab.set_dns(name, HOST_ADDRESS)
        lab.start_nginx(NGINX_SITE)
        scripts = host_scripts(user="root", host=HOST_ADDRESS)
        outputs = succeeded(run(lab, scripts, via=lambda command: lab.client_ssh(command, user="root")))
        assert "https_verified=true" in outputs["certificate"]


# --- day 2: every change converges ---------------------------------------------------------------------------------

def three_runs(lab: HostLab, before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """Run 1 with ``before``, run 2 with ``after`` (returned), run 3 with ``after`` again: changes nothing."""
    succeeded(run(lab, before))
    second = succeeded(run(lab, after))
    orders = lab.acme_orders()
    unchanged(succeeded(run(lab, after)))
    assert lab.acme_orders() == orders
    return second


def test_installing_a_certificate_that_was_certonly_uses_the_existing_one():
    with HostLab(DISTROS["ubuntu-22.04"], DOMAINS) as lab:
        lab.start_nginx(NGINX_SITE)
        second = three_runs(lab, host_scripts(install_certificate=False), host_scripts(install_certificate=True))
        assert "installed certificate df.example.com" in second["certificate"]
        assert lab.served_serial() == live_serial(lab) == lab.served_serial("www.df.example.com")
        assert certificates_kept(lab) == 1  # installed, not ordered again


def test_switching_web_server_moves_the_renewal_configuration():
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        lab.start_nginx(NGINX_SITE)
        second = three_runs(lab, host_scripts(web_server="nginx"), host_scripts(web_server="webroot"))
        assert "renewal of df.example.com now uses webroot" in second["certificate"]
        conf = renewal_conf(lab)
        assert "authenticator = webroot" in conf and "webroot_path = /opt/dreamfactory/public" in conf
        assert re.search(r"^renew_hook = .*reload nginx", conf, re.M)
        # webroot has no installer: a renewal must not edit nginx's configuration any more.
        assert not re.search(r"^installer *= *(nginx|apache)", conf, re.M), conf
        assert certificates_kept(lab) == 1


def test_adding_a_domain_on_apache_reaches_the_vhost_and_is_served():
    with HostLab(DISTROS["ubuntu-24.04"], (*DOMAINS, "api.df.example.com")) as lab:
        lab.start_apache(APACHE_SITE)
        bigger = (*DOMAINS, "api.df.example.com")
        second = three_runs(lab, host_scripts(web_server="apache"), host_scripts(web_server="apache", domains=list(bigger)))
        assert "obtained certificate df.example.com" in second["certificate"]
        site = lab.sh("cat /etc/apache2/sites-enabled/000-default.conf").stdout
        assert "ServerAlias www.df.example.com api.df.example.com" in site
        assert lab.served_serial("api.df.example.com") == live_serial(lab)
        assert lab.sh(f"openssl x509 -in {LIVE}/cert.pem -noout -text").stdout.count("DNS:") == 3


def test_reordering_domains_changes_nothing_and_removing_the_first_keeps_the_lineage():
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        lab.start_nginx(NGINX_SITE)
        three_runs(lab, host_scripts(), host_scripts(domains=list(reversed(DOMAINS))))
        assert certificates_kept(lab) == 1
        assert lab.sh("ls /etc/letsencrypt/live").stdout.split() == ["README", "df.example.com"]
        outputs = succeeded(run(lab, host_scripts(domains=["www.df.example.com"])))
        assert "cert_name=df.example.com" in outputs["certificate"]  # the same lineage, now for one name
        assert lab.sh("ls /etc/letsencrypt/live").stdout.split() == ["README", "df.example.com"]
        assert "DNS:df.example.com" not in lab.sh(f"openssl x509 -in {LIVE}/cert.pem -noout -text").stdout


def test_a_new_email_reaches_the_acme_account():
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        lab.start_nginx(NGINX_SITE)
        second = three_runs(lab, host_scripts(), host_scripts(email="tls-team@example.com"))
        assert "set the ACME account's e-mail to tls-team@example.com" in second["certificate"]
        account = lab.sh("REQUESTS_CA_BUNDLE=/etc/lab-pebble/ca.pem certbot show_account "
                         "--server https://localhost:14000/dir").stdout  # what the CA holds
        assert "Email contact: tls-team@example.com" in account


# --- renewal that works when the timer runs it ---------------------------------------------------------------------

def test_private_ca_renewal_is_verified_as_the_timer_runs_it():
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        lab.start_nginx(NGINX_SITE)
        outputs = succeeded(run(lab, host_scripts()))
        assert "environment: REQUESTS_CA_BUNDLE=/etc/lab-pebble/ca.pem" in outputs["renewal"]
        dropin = lab.sh("cat /etc/systemd/system/snap.certbot.renew.service.d/dreamfactory-infra-ca.conf").stdout
        assert "Environment=REQUESTS_CA_BUNDLE=/etc/lab-pebble/ca.pem" in dropin
        dry_run = ("certbot renew --dry-run --no-random-sleep-on-renew --cert-name df.example.com "
                   "--server https://localhost:14000/dir")
        timer_env = lab.sh("systemctl show -p Environment --value snap.certbot.renew.service").stdout.strip()
        systemd_path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin"  # a service's
        assert lab.sh(f"env -i {systemd_path} {timer_env} {dry_run}", check=False).returncode == 0
        # Without the drop-in the timer's certbot could not reach the private CA: the drop-in is what makes it work.
        without = lab.sh(f"env -i {systemd_path} {dry_run}", check=False)
        assert without.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in without.stdout + without.stderr


def test_standalone_next_to_a_running_web_server_stops_and_starts_it_around_issuance_and_renewal():
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        lab.start_nginx(NGINX_SITE)
        scripts = host_scripts(web_server="standalone")
        outputs = succeeded(run(lab, scripts))
        conf = renewal_conf(lab)
        assert "pre_hook = systemctl stop nginx" in conf and "post_hook = systemctl start nginx" in conf
        assert "verified renewal" in outputs["renewal"]  # the dry run stopped and started nginx itself
        assert lab.sh("pgrep -x nginx", check=False).returncode == 0
        unchanged(succeeded(run(lab, scripts)))


def test_webroot_with_a_broken_nginx_configuration_orders_nothing():
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        lab.start_nginx(NGINX_SITE)
        lab.sh("echo 'this is not nginx syntax' > /etc/nginx/conf.d/broken.conf")
        result = run(lab, host_scripts(web_server="webroot"))["certificate"]
        assert result.returncode == 1 and "nginx -t fails" in result.stderr
        assert lab.acme_orders() == 0 and not lab.file(LIVE).exists()


def test_two_components_on_one_host_keep_their_own_hooks_and_records():
    owners = ("df-a", "df-b")
    with HostLab(DISTROS["debian-12"], (*DOMAINS, "api.df.example.com")) as lab:
        lab.start_nginx(NGINX_SITE)
        first = host_scripts(name=owners[0], web_server="webroot")
        second = host_scripts(name=owners[1], web_server="webroot", domains=["api.df.example.com"])
        succeeded(run(lab, first))
        succeeded(run(lab, second))
        for lineage in ("df.example.com", "api.df.example.com"):
            assert re.search(r"^renew_hook = .*reload", renewal_conf(lab, lineage), re.M)
        for owner, lineage in zip(owners, ("df.example.com", "api.df.example.com")):
            assert lab.sh(f"cat /var/lib/dreamfactory-infra/{owner}/cert-name").stdout.strip() == lineage
        unchanged(succeeded(run(lab, first)))
