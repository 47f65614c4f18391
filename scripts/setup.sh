#!/usr/bin/env bash
# Installs what is missing on a fresh machine, then builds everything in release mode.
#   - Debian packages: dataset-fashion-mnist (the embedded default data), libgloo-dev (c10d headers),
#     libturbojpeg0-dev and libjpeg62-turbo-dev (libjpeg-turbo: TurboJPEG, linked statically into
#     lt-data, and the libjpeg API header its region decoding compiles against)
#   - .venv with torch==2.11.0 from PyPI (libtorch for tch 0.24), torchvision, numpy and pillow
#     (comparisons), safetensors (converting .pth weights for --init-backbone)
#   - with the CUDA wheel, nvidia-cuda-crt and nvidia-cuda-cccl (CUDA headers for NCCL)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need_apt+=(dataset-fashion-mnist)
[ -e /usr/include/gloo/config.h ] || need_apt+=(libgloo-dev)
[ -e /usr/include/turbojpeg.h ] || need_apt+=(libturbojpeg0-dev)
[ -e /usr/include/jpeglib.h ] || need_apt+=(libjpeg62-turbo-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

if ! .venv/bin/python -c 'import torch, torchvision, numpy, PIL, safetensors; assert torch.__version__.startswith("2.11.0")' 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q torch==2.11.0 torchvision==0.26.0 numpy pillow safetensors
fi
ln -sfn "$(.venv/bin/python -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')" .venv/torch-lib

# The CUDA wheel brings the CUDA runtime's and NCCL's headers but not crt/ nor CCCL, which
# ATen's CUDA headers include: add them (headers only, no GPU or CUDA toolkit needed) in the
# versions of the wheel's CUDA release, so lt-core compiles NCCL and its CUDA code.
if [ -e .venv/torch-lib/libtorch_cuda.so ] &&
    ! .venv/bin/python -c 'import importlib.metadata as m; m.version("nvidia-cuda-crt"); m.version("nvidia-cuda-cccl")' 2>/dev/null; then
    # torch pins cuda-toolkit, whose crt / cccl extras pin the matching packages.
    if cuda_toolkit=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("cuda-toolkit"))' 2>/dev/null); then
        .venv/bin/pip install -q "cuda-toolkit[crt,cccl]==$cuda_toolkit"
    else
        echo "setup.sh: torch does not pin cuda-toolkit: install the nvidia-cuda-crt and" \
            "nvidia-cuda-cccl of its CUDA release into .venv, or lt-core has no NCCL" >&2
    fi
fi

source scripts/env.sh
cargo build --release --workspace
