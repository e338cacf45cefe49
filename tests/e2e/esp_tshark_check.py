#!/usr/bin/python3
"""Checks that Wireshark decrypts monami's ESP-protected Mobile IPv6 signalling.

Given a pcap and the SAs used to protect it, writes an `esp_sa` table (Wireshark's ESP
SA UAT) into a temporary configuration directory, runs tshark with ESP decryption and
authentication checking on, and requires that every ESP frame whose SPI is listed
decrypts to a Mobility Header with a good ICV. Exit status 0 on success, 1 otherwise.

  esp_tshark_check.py CAPTURE.pcap --sa SPI:ALGORITHM:KEY[:AUTH_KEY] [--sa ...]
                      [--expect-frames N] [--expect-mh-types 5,6]

ALGORITHM is one of monami's names: aes128-gcm16, aes256-gcm16 (KEY = key || 4-byte
salt, RFC 4106), aes128-cbc-hmac-sha256-128, aes256-cbc-hmac-sha256-128 (AUTH_KEY = the
32-byte HMAC key, RFC 4868). Keys are hex, with or without 0x. Standard library only.

Example, with the capture the ESP unit test writes (its fixed test keys; BA keys are the
BU keys with the first byte xor 0xff):

  MONAMI_ESP_PCAP=/tmp/esp.pcap build/tests/unit/unit_esp --gtest_filter='EspPcap.*'
  K=000102030405060708090a0b0c0d0e0f
  K2=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
  A=808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f
  tests/e2e/esp_tshark_check.py /tmp/esp.pcap \
    --sa 0x1000:aes128-gcm16:${K}10111213 --sa 0x2000:aes128-gcm16:ff${K:2}10111213 \
    --sa 0x1001:aes256-gcm16:${K2}20212223 --sa 0x2001:aes256-gcm16:ff${K2:2}20212223 \
    --sa 0x1002:aes128-cbc-hmac-sha256-128:$K:$A \
    --sa 0x2002:aes128-cbc-hmac-sha256-128:ff${K:2}:$A \
    --sa 0x1003:aes256-cbc-hmac-sha256-128:$K2:$A \
    --sa 0x2003:aes256-cbc-hmac-sha256-128:ff${K2:2}:$A \
    --expect-frames 8 --expect-mh-types 5,6
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

# monami algorithm -> (Wireshark encryption, Wireshark authentication, needs auth key).
ALGORITHMS = {
    "aes128-gcm16": ("AES-GCM with 16 octet ICV [RFC4106]", "NULL", False),
    "aes256-gcm16": ("AES-GCM with 16 octet ICV [RFC4106]", "NULL", False),
    "aes128-cbc-hmac-sha256-128": ("AES-CBC [RFC3602]", "HMAC-SHA-256-128 [RFC4868]", True),
    "aes256-cbc-hmac-sha256-128": ("AES-CBC [RFC3602]", "HMAC-SHA-256-128 [RFC4868]", True),
}

FIELDS = ["frame.number", "esp.spi", "esp.icv_good", "mip6.mhtype"]


def parse_hex(text):
    text = text.lower().removeprefix("0x").replace(" ", "")
    bytes.fromhex(text)  # validates
    return text


def parse_sa(text):
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise argparse.ArgumentTypeError(f"--sa wants SPI:ALGORITHM:KEY[:AUTH_KEY], got {text!r}")
    spi = int(parts[0], 0)
    algorithm = parts[1]
    if algorithm not in ALGORITHMS:
        raise argparse.ArgumentTypeError(f"unknown algorithm {algorithm!r}; one of {sorted(ALGORITHMS)}")
    encryption, authentication, needs_auth_key = ALGORITHMS[algorithm]
    key = parse_hex(parts[2])
    auth_key = parse_hex(parts[3]) if len(parts) == 4 else ""
    if needs_auth_key != bool(auth_key):
        raise argparse.ArgumentTypeError(f"{algorithm} {'needs' if needs_auth_key else 'takes no'} AUTH_KEY")
    return {"spi": spi, "encryption": encryption, "key": key,
            "authentication": authentication, "auth_key": auth_key}


def uat_line(sa):
    auth_key = f"0x{sa['auth_key']}" if sa["auth_key"] else ""
    fields = ["IPv6", "*", "*", f"0x{sa['spi']:08x}", sa["encryption"], f"0x{sa['key']}",
              sa["authentication"], auth_key]
    return ",".join(f'"{f}"' for f in fields)


def run_tshark(capture, sas, config_dir):
    with open(os.path.join(config_dir, "esp_sa"), "w", encoding="ascii") as table:
        for sa in sas:
            table.write(uat_line(sa) + "\n")
    command = ["tshark", "-n", "-r", capture,
               "-o", "esp.enable_encryption_decode:TRUE",
               "-o", "esp.enable_authentication_check:TRUE",
               "-Y", "esp", "-T", "fields", "-E", "separator=\t"]
    for field in FIELDS:
        command += ["-e", field]
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=config_dir)
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"tshark failed with status {result.returncode}")
    return result.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("capture")
    parser.add_argument("--sa", type=parse_sa, action="append", required=True)
    parser.add_argument("--expect-frames", type=int, default=None,
                        help="number of ESP frames that must decrypt (default: at least one)")
    parser.add_argument("--expect-mh-types", default=None,
                        help="comma-separated MH types that must all appear, e.g. 5,6")
    args = parser.parse_args()
    if shutil.which("tshark") is None:
        raise SystemExit("tshark is not installed")

    known_spis = {sa["spi"] for sa in args.sa}
    with tempfile.TemporaryDirectory(prefix="monami-esp-") as config_dir:
        output = run_tshark(args.capture, args.sa, config_dir)

    decrypted = 0
    failures = []
    seen_types = set()
    for line in output.splitlines():
        frame, spi, icv_good, mh_type = (line.split("\t") + [""] * 4)[:4]
        if not spi or int(spi, 16) not in known_spis:
            continue
        if not mh_type:
            failures.append(f"frame {frame} SPI {spi}: no Mobility Header after decryption")
        elif icv_good != "1":
            failures.append(f"frame {frame} SPI {spi}: ICV not verified (good={icv_good!r})")
        else:
            decrypted += 1
            seen_types.add(int(mh_type))
            print(f"frame {frame} SPI {spi}: decrypted, ICV good, MH type {mh_type}")

    if decrypted == 0:
        failures.append("no ESP frame with a listed SPI decrypted")
    if args.expect_frames is not None and decrypted != args.expect_frames:
        failures.append(f"{decrypted} frames decrypted, expected {args.expect_frames}")
    if args.expect_mh_types:
        wanted = {int(t) for t in args.expect_mh_types.split(",")}
        if not wanted <= seen_types:
            failures.append(f"MH types {sorted(wanted - seen_types)} not seen")
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
