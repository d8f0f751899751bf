#!/usr/bin/env bash
# Start a seeded Samba AD DC for manual testing; prints STS_LDAP_* exports, stops on Ctrl-C.
#   sudo scripts/samba-dc.sh [USERS]        (needs: apt-get install samba samba-ad-dc ldb-tools)
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python - "${1:-5000}" <<'PY'
import signal, sys, tempfile
from pathlib import Path
from tests.integration.samba import BASE_DN, CVR, build_seed, provision_seeded

seed = build_seed(total_users=int(sys.argv[1]))
root = Path(tempfile.mkdtemp(prefix="sts-samba-"))
dc = provision_seeded(root / "dc", seed)
print(f"""export STS_LDAP_URLS={dc.url()}
export STS_LDAP_BASE_DN='{BASE_DN}'
export STS_LDAP_BIND_DN='{seed.service_dn}'
export STS_LDAP_BIND_PASSWORD='{seed.service_password}'
export STS_LDAP_CA_FILE={dc.ca_file}
export STS_LDAP_CVR={CVR}
export STS_LDAP_KLE_ATTRIBUTE=departmentNumber
# test users (anna.jensen, bo.chef, bench00...) share the password: {seed.password}
# Administrator: {dc.admin_password}     data: {root}""", flush=True)
try:
    signal.pause()
except KeyboardInterrupt:
    pass
finally:
    dc.stop()
PY
