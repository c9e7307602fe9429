#!/bin/sh
# Install the Debian packages llmscale needs, only if something is missing.
#   install-deps.sh        build: gcc, make, OpenBLAS (CBLAS), Open MPI; OpenMP comes with gcc
#   install-deps.sh test   also python3-torch + python3-numpy (the PyTorch reference),
#                          python3-regex (GPT-2's regex module, for the tokenizer references),
#                          clang + libclang-rt-14-dev (libFuzzer, ASan/UBSan runtimes) +
#                          libomp-14-dev (OpenMP for clang), for the fuzz harnesses (make fuzz)
set -e
need=""
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
pkgs="gcc make libopenblas-dev openmpi-bin libopenmpi-dev"
[ "${1:-}" = test ] && pkgs="$pkgs python3-torch python3-numpy python3-regex clang libclang-rt-14-dev libomp-14-dev"
for p in $pkgs; do
    have "$p" || need="$need $p"
done
if [ -n "$need" ]; then
    echo "installing missing Debian packages:$need"
    if [ "$(id -u)" != 0 ]; then
        echo "llmscale: error: missing packages:$need (run as root or: sudo apt-get install$need)" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
