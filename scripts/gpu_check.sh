#!/usr/bin/env bash
# The CUDA check, run on a GPU machine (issue 2, point 10): its Python 3.12 has torch, pytest
# and numpy; the rest comes from the wheels in .whl/ (scripts/fetch_gpu_wheels.sh, run
# beforehand where PyPI is reachable). Runs the CUDA tests (-k cuda) of tests/cell/test_cuda.py,
# tests/memory/test_memory.py and every test file that uses the cuda marks (GPU_TESTS="FILES"
# overrides the list). Writes the log to $OUT/gpu_check.log when OUT is set.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=${OUT:+$OUT/gpu_check.log}
LOG=${LOG:-/dev/null}

check() {
    nvidia-smi -L || echo "nvidia-smi: not available"
    if ! ls .whl/*.whl >/dev/null 2>&1; then
        echo "no wheels in .whl/: run scripts/fetch_gpu_wheels.sh first"; return 2
    fi
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || return 2
    export PYTHONPATH=/tmp/site:$PWD
    if ! python3 -c 'import distutils' 2>/dev/null; then
        # torchviz imports distutils (gone in 3.12): setuptools' shim needs its .pth processed
        mkdir -p /tmp/site-boot
        echo 'import site; site.addsitedir("/tmp/site")' > /tmp/site-boot/sitecustomize.py
        export PYTHONPATH=$PYTHONPATH:/tmp/site-boot
    fi
    python3 -c 'import IPython, torchviz' || return 2
    python3 -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__,
          "cuda", torch.version.cuda, "devices", torch.cuda.device_count())'
    local tests=()
    if [ -n "${GPU_TESTS:-}" ]; then
        read -r -a tests <<< "$GPU_TESTS"
    else
        while IFS= read -r f; do
            case $f in tests/cell/test_cuda.py|tests/memory/test_memory.py) tests+=("$f"); continue ;; esac
            grep -qE 'needs_cuda|mark\.cuda' "$f" && tests+=("$f")
        done < <(find tests -name 'test_*.py' -not -path 'tests/browser/*' | sort)
    fi
    echo "CUDA tests from: ${tests[*]:-none}"
    if [ ${#tests[@]} -eq 0 ]; then echo "no CUDA test files found"; return 2; fi
    python3 -m pytest -q -p no:cacheprovider -rs -k cuda "${tests[@]}"
}

check 2>&1 | tee "$LOG"
exit "${PIPESTATUS[0]}"
