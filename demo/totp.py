"""``python -m demo.totp SECRET``: the current TOTP code for a demo login without a phone.

The enrolment page shows the secret under the QR code; paste it here (spaces allowed).
For the demo only: a real second factor lives on a device of its own.
"""

from __future__ import annotations

import sys

import pyotp


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    print(pyotp.TOTP("".join(argv[0].split()).upper()).now())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
