#!/usr/bin/env bash
# gpu_check.sh - the one-command check of neuro's CUDA code on a machine with an NVIDIA GPU (`make gpu-check`).
#
#   scripts/gpu_check.sh             run every step, write $OUT/summary.txt (default build/gpu_check), exit 1 if one failed
#   scripts/gpu_check.sh --dry-run   print every step it would run (works without a GPU), exit 0
#   scripts/gpu_check.sh --install   only create the environment (step "install")
#   scripts/gpu_check.sh --extra     print the pyproject extra for this machine's driver (gpu-cuda12 / gpu-cuda13; nothing
#                                    without a GPU) - the Makefile's `make setup` uses it
#
# Steps, each under its own timeout (and skipped once GPU_CHECK_BUDGET seconds, default 1500, are spent):
#   install          venv $GPU_CHECK_VENV (default build/venv-gpu) with `pip install -e .[dev,gpu-cudaXX]`, XX the driver's
#                    CUDA major; torch must see the GPU; NVRTC must compile a kernel that includes cuda_fp16.h and
#                    cuda_bf16.h (the [ctk] extra ships them: no system toolkit needed)
#   pytest_gpu_*     pytest -m gpu on the files with GPU tests, in three groups (a crash costs one group); a group whose
#                    GPU tests were all skipped fails (tests/conftest.py), so a missing CuPy cannot pass as green
#   san_*            compute-sanitizer memcheck and initcheck on a small simulator run touching every kernel
#                    (scripts/gpu/tiny_sim.py), memcheck on more same-step spikes than neurons (sim_probes.py overflow),
#                    memcheck and initcheck on the generated kernels of user-defined models and plasticity rules
#                    (scripts/gpu/generated_sim.py: EIF, AdEx, Hodgkin-Huxley; Clopath's rule, a clock-driven v_post
#                    filter, pair STDP as a definition; it also fails unless the runs equal the CPU loop bit for bit,
#                    pair STDP's weights within 1e-12: CUDA's exp in its decay)
#   probe_sim        informational: duplicate-spike updates vs the CPU engine, run-to-run determinism
#   bench_*          every benchmark that takes --device, with --quick --device cuda, alone on the GPU
# Each step logs to $OUT/<step>.log; $OUT/summary.txt has one line per step and a digest.
set -u -o pipefail
cd "$(dirname "$0")/.."

DRY=0
MODE=check
for arg in "$@"; do
  case "$arg" in
    --dry-run | -n) DRY=1 ;;
    --extra) MODE=extra ;;
    --install) MODE=install ;;
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

driver_cuda_major() { nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9][0-9]*\)\..*/\1/p' | head -1; }

# the extra matching the driver: CuPy for CUDA 13 needs a CUDA 13 driver; a CUDA 12 driver takes the CUDA 12 build
gpu_extra() {
  nvidia-smi -L > /dev/null 2>&1 || return 0
  local maj
  maj=$(driver_cuda_major)
  if [ "${maj:-0}" -ge 13 ]; then
    echo gpu-cuda13
  elif [ "${maj:-0}" -ge 12 ]; then
    echo gpu-cuda12
  else
    echo "gpu_check.sh: the NVIDIA driver reports CUDA ${maj:-?}; neuro's GPU extras need CUDA 12 or newer" >&2
  fi
}

if [ "$MODE" = extra ]; then
  gpu_extra
  exit 0
fi

VENV="${GPU_CHECK_VENV:-build/venv-gpu}"
PY="$VENV/bin/python"
PYTHON="${PYTHON:-python3}"

install_env() {
  local extra
  extra="${GPU_EXTRA:-$(gpu_extra)}"
  [ -n "$extra" ] || { echo "no NVIDIA GPU (or a driver older than CUDA 12): nothing to install a GPU extra for"; return 1; }
  [ -x "$PY" ] || "$PYTHON" -m venv "$VENV" || return 1
  "$PY" -m pip install -q --disable-pip-version-check -e ".[dev,$extra]" || return 1
  "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' || {
    echo "torch $("$PY" -c 'import torch; print(torch.__version__, torch.version.cuda)') cannot use this GPU (driver CUDA $(driver_cuda_major))"
    return 1
  }
  # NVRTC and the half-precision headers, as kernel_loader compiles the training kernels
  "$PY" - << 'PYEOF' || { echo "PACKAGING: the $extra extra cannot compile a kernel with cuda_fp16.h / cuda_bf16.h"; return 1; }
import cupy
code = ('#include <cuda_fp16.h>\n#include <cuda_bf16.h>\n'
        'extern "C" __global__ void k(__half* a, __nv_bfloat16* b) { a[0] = __float2half(1.0f); b[0] = __float2bfloat16(1.0f); }')
cupy.RawModule(code=code, options=("--std=c++17",)).get_function("k")
print("NVRTC ok: cupy", cupy.__version__, "nvrtc", cupy.cuda.nvrtc.getVersion(), "runtime", cupy.cuda.runtime.runtimeGetVersion())
PYEOF
  "$PY" -m pip freeze > "${OUT:-.}/pip-freeze.txt" 2> /dev/null
  "$PY" -c 'import torch, cupy; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0)); print("cupy", cupy.__version__)'
}

if [ "$MODE" = install ] && [ "$DRY" = 0 ]; then
  OUT="${OUT:-.}"
  install_env
  exit $?
fi

OUT="${OUT:-build/gpu_check}"
BUDGET="${GPU_CHECK_BUDGET:-1500}"
T0=$(date +%s)
END_ALL=$((T0 + BUDGET))
SUM="$OUT/summary.txt"
FAILED=()
if [ "$DRY" = 0 ]; then
  mkdir -p "$OUT"
  OUT="$(cd "$OUT" && pwd)"
  export OUT
  SUM="$OUT/summary.txt"
  : > "$SUM"
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  export PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 MPLBACKEND=Agg
  export NEURO_CACHE="$WORK/neuro-cache" CUPY_CACHE_DIR="$WORK/cupy-cache"
fi

note() { echo "[$(($(date +%s) - T0))s] $*" | tee -a "$SUM"; }

# step NAME MAXSECS REQUIRED(1|0) DESCRIPTION cmd...   (log in $OUT/NAME.log; a failed required step fails the check)
step() {
  local name=$1 max=$2 required=$3 what=$4
  shift 4
  if [ "$DRY" = 1 ]; then
    printf 'DRY-RUN  %-26s %s\n         %-26s $ %s\n' "$name" "$what" "" "$*"
    return 0
  fi
  local room=$((END_ALL - $(date +%s)))
  local t=$((max < room ? max : room))
  if [ "$t" -lt 12 ]; then
    note "SKIP $name (budget spent)"
    [ "$required" = 1 ] && FAILED+=("$name(skipped)")
    return 99
  fi
  note ">>> $name (limit ${t}s): $what"
  timeout -k 5 "$t" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  note "<<< $name rc=$rc$([ "$rc" = 124 ] && echo ' TIMEOUT')"
  [ "$rc" != 0 ] && [ "$required" = 1 ] && FAILED+=("$name")
  return $rc
}

if [ "$DRY" = 1 ]; then
  echo "gpu_check.sh --dry-run: the steps a GPU machine runs (venv $VENV, results in ${OUT}/), in order"
  EXTRA="$(gpu_extra 2> /dev/null)"
  EXTRA="${EXTRA:-gpu-cuda<driver CUDA major>}"
else
  note "gpu_check start in $(pwd); budget ${BUDGET}s; venv $VENV"
  nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || note "nvidia-smi failed: no NVIDIA GPU or driver here"
  note "GPU: $(nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader 2> /dev/null | head -1); driver CUDA $(driver_cuda_major)"
  EXTRA="${GPU_EXTRA:-$(gpu_extra)}"
fi

# ---------------------------------------------------------------- install
step install 600 1 "venv + pip install -e .[dev,$EXTRA]; torch sees the GPU; NVRTC compiles cuda_fp16.h / cuda_bf16.h" \
  bash "$0" --install
INSTALL_RC=$?
if [ "$DRY" = 0 ]; then
  grep -E "PACKAGING|NVRTC ok|^torch |^cupy |cannot use" "$OUT/install.log" | sed 's/^/    /' | tee -a "$SUM"
  if [ "$INSTALL_RC" != 0 ]; then
    note "install failed: see install.log; stopping"
    tail -40 "$OUT/install.log" >> "$SUM"
    exit 1
  fi
fi

# ---------------------------------------------------------------- pytest -m gpu
files=$(grep -rlE "mark\.gpu|backend_name|backend_device|sim_backend" tests --include='test_*.py' | sort)
ops=$(echo "$files" | grep -E '^tests/(ops/|test_)' | tr '\n' ' ')
simf=$(echo "$files" | grep -E '^tests/(sim|bridge)/' | tr '\n' ' ')
rest=$(echo "$files" | grep -vE '^tests/(ops/|test_|sim/|bridge/)' | tr '\n' ' ')
common="-m gpu -p no:cacheprovider -q -rfEs --durations=15"
# shellcheck disable=SC2086  # the file lists are word lists
{
  [ -n "$ops" ] && step pytest_gpu_ops 400 1 "GPU tests of the kernels, launchers, loader, backend" "$PY" -m pytest $common --timeout=120 --junitxml="$OUT/pytest_gpu_ops.xml" $ops
  [ -n "$simf" ] && step pytest_gpu_sim 500 1 "GPU tests of the simulator" "$PY" -m pytest $common --timeout=200 --junitxml="$OUT/pytest_gpu_sim.xml" $simf
  [ -n "$rest" ] && step pytest_gpu_rest 300 1 "GPU tests of nn, train, data, energy, dynamics (generated model kernels)" "$PY" -m pytest $common --timeout=120 --junitxml="$OUT/pytest_gpu_rest.xml" $rest
} || true

# ---------------------------------------------------------------- compute-sanitizer
find_sanitizer() {
  local c
  for c in "$(command -v compute-sanitizer 2> /dev/null)" /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda-*/bin/compute-sanitizer \
    /opt/nvidia/*/compute-sanitizer; do
    [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return 0; }
  done
  [ -d "$VENV" ] && find "$VENV" -type f -name compute-sanitizer -perm -u+x 2> /dev/null | head -1
}
SAN=$(find_sanitizer)
if [ -z "$SAN" ]; then
  maj=$(driver_cuda_major)
  # the wheel is nvidia-cuda-sanitizer-api-cu12 for CUDA 12, nvidia-cuda-sanitizer-api 13.x from CUDA 13 on
  if [ "${maj:-12}" -ge 13 ]; then wheel="nvidia-cuda-sanitizer-api==${maj}.*"; else wheel="nvidia-cuda-sanitizer-api-cu12"; fi
  step sanitizer_install 120 0 "only where compute-sanitizer is not on PATH nor in /usr/local/cuda: its pip wheel" \
    "$PY" -m pip install -q "$wheel"
  SAN=$(find_sanitizer)
fi
[ "$DRY" = 1 ] && SAN=${SAN:-compute-sanitizer}
if [ -z "$SAN" ]; then
  note "compute-sanitizer not found (no CUDA toolkit, none in the pip wheels): sanitizer passes FAILED to run"
  FAILED+=("sanitizer(missing)")
else
  SANOPTS="--error-exitcode 1 --print-limit 40"
  # shellcheck disable=SC2086
  {
    step san_memcheck_tiny 240 1 "out-of-bounds / misaligned device accesses, small run touching every kernel" \
      "$SAN" --tool memcheck $SANOPTS "$PY" scripts/gpu/tiny_sim.py cuda
    step san_initcheck_tiny 240 1 "reads of device memory never written, same run" \
      "$SAN" --tool initcheck $SANOPTS "$PY" scripts/gpu/tiny_sim.py cuda
    step san_memcheck_overflow 240 1 "2000 same-step spikes of one neuron: the spike list's bounds" \
      "$SAN" --tool memcheck $SANOPTS "$PY" scripts/gpu/sim_probes.py cuda overflow
    step san_memcheck_generated 240 1 "generated kernels of user-defined models and rules (address tables); equal to the CPU loop" \
      "$SAN" --tool memcheck $SANOPTS "$PY" scripts/gpu/generated_sim.py cuda
    step san_initcheck_generated 240 1 "reads of device memory never written, same run" \
      "$SAN" --tool initcheck $SANOPTS "$PY" scripts/gpu/generated_sim.py cuda
  } || true
fi
step probe_sim 300 0 "duplicate-spike updates vs the CPU engine; run-to-run determinism (informational)" \
  "$PY" scripts/gpu/sim_probes.py cuda race determinism || true

# ---------------------------------------------------------------- benchmarks, alone on the GPU
for b in $(grep -l -- '"--device"' benchmarks/*.py | sort); do
  name="bench_$(basename "$b" .py)"
  step "$name" 240 1 "benchmark, small sizes, on the GPU" "$PY" "$b" --quick --device cuda || true
  [ "$DRY" = 0 ] && tail -1 "$OUT/$name.log" 2> /dev/null | grep -q '^{' && tail -1 "$OUT/$name.log" > "$OUT/$name.json"
done

# ---------------------------------------------------------------- summary
if [ "$DRY" = 1 ]; then
  printf 'DRY-RUN  %-26s %s\n' summary "one line per step and a digest (pytest counts, sanitizer ERROR SUMMARY, benchmark results) in $OUT/summary.txt"
  exit 0
fi
{
  echo
  echo "================ digest"
  for f in "$OUT"/pytest_gpu_*.log; do
    [ -f "$f" ] && echo "$(basename "$f" .log): $(grep -E '(passed|failed|error|skipped)' "$f" | tail -1)" && grep -E '^(FAILED|ERROR)|GPU tests were skipped|all [0-9]+ GPU tests' "$f" | head -25
  done
  for f in "$OUT"/san_*.log; do [ -f "$f" ] && echo "$(basename "$f" .log): $(grep -E 'ERROR SUMMARY|Invalid|Uninitialized|^GENERATED' "$f" | head -5 | tr '\n' ' ')"; done
  [ -f "$OUT/probe_sim.log" ] && grep -E "RACE|DETERMINISM|Error" "$OUT/probe_sim.log" | head -20 | cut -c1-260 | sed 's/^/probe_sim: /'
  for f in "$OUT"/bench_*.log; do [ -f "$f" ] && echo "$(basename "$f" .log): $(grep -vE '^\s*$' "$f" | tail -3 | cut -c1-400 | tr '\n' ' ')"; done
  echo "total $(($(date +%s) - T0))s"
  if [ "${#FAILED[@]}" -gt 0 ]; then echo "GPU CHECK FAILED: ${FAILED[*]}"; else echo "GPU CHECK PASSED"; fi
} >> "$SUM" 2>&1
cat "$SUM"
[ "${#FAILED[@]}" -eq 0 ]
