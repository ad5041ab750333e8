"""Each detect-secrets plugin runs only on text holding the literal its patterns need (`_PLUGIN_NEEDS`), and
detect-secrets itself is loaded only for such text. A literal chosen too narrowly would let that plugin's
tokens through: these are the plugin's own matches, which must still be found."""

from __future__ import annotations

import subprocess
import sys

import pytest
from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

from cublab.domain.secrets import _KIND_OF_TYPE, _PLUGIN_NEEDS, find_secrets_in_text

HEX64 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
ALNUM64 = "k" + "0123456789abcdefghijklmnopqrstuvwxyz"[:31] + "abcdefghijklmnopqrstuvwxyz0123456789"[:32]
LOWER24 = "abcdefghijklmnopqrstuvwx"
TELEGRAM = "110201543:" + "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"

MATCHES = [
    ("Telegram Bot Token", f"bot token {TELEGRAM}"),
    ("Telegram Bot Token", TELEGRAM),
    ("Cloudant Credentials", f'cloudant_password = "{HEX64}"'),
    ("Cloudant Credentials", f"CL_PWD: {HEX64}"),
    ("Cloudant Credentials", f"cl-apikey={LOWER24}"),
    ("Cloudant Credentials", f"clou_token => '{HEX64}'"),
    ("Cloudant Credentials", f"https://acct:{HEX64}@acct.cloudant.com"),
    ("SoftLayer Credentials", f"softlayer_api_key = {ALNUM64}"),
    ("SoftLayer Credentials", f'SL_PASSWORD: "{ALNUM64}"'),
    ("SoftLayer Credentials", f"sl-pass {ALNUM64}"),
    ("SoftLayer Credentials", f"https://api.softlayer.com/soap/v3.1/{ALNUM64}"),
]


@pytest.mark.parametrize(("secret_type", "text"), MATCHES)
def test_a_plugins_own_match_passes_its_literal_and_is_refused(secret_type: str, text: str) -> None:
    plugin = get_mapping_from_secret_type_to_class()[secret_type]()
    assert list(plugin.analyze_string(text)), "not a match of the plugin: the example is wrong"
    assert _PLUGIN_NEEDS[secret_type](text, text.lower())
    assert _KIND_OF_TYPE[secret_type] in {f.kind for f in find_secrets_in_text(text)}


def test_an_identity_is_checked_without_loading_detect_secrets() -> None:
    """`cublab serve` checks its agent identity before the first tool call answers: without the ~40 ms import."""
    script = (
        "import sys; from cublab.domain.secrets import find_secrets_in_text as f; "
        "print([f(i) for i in sys.argv[1:]], 'detect_secrets' in sys.modules)"
    )
    identities = ["agent:bench-coldstart", "agent:claude-code-7f3a", "agent:cursor-session-abc123", "human:ada"]
    out = subprocess.run([sys.executable, "-c", script, *identities], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[[],", "[],", "[],", "[]]", "False"]
