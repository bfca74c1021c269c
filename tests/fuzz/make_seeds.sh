#!/usr/bin/env bash
# Regenerates tests/fuzz/seeds/: a few small valid inputs per fuzz target to start from. Needs a
# built kiln (build/tools/kiln) for the IR text, model protobuf and checkpoint seeds.
#   tests/fuzz/make_seeds.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
kiln=build/tools/kiln
out=tests/fuzz/seeds
rm -rf "$out"
mkdir -p "$out"/{model_file,ir_text,model_proto,checkpoint,idx,csv,tensor_file,onnx_model}

# A small model with a train section on synthetic data: IR text, a serialized step graph and a
# checkpoint of one epoch.
model=$out/model_file/tiny.kiln  # Compiled from here, so locations in the seeds are stable.
cat > "$model" <<'MODEL'
model tiny {
  input x: f32[B, 6]
  input y: i64[B]
  h = relu(linear(x, 5))
  loss = cross_entropy(linear(h, 3), y)
}
train {
  data = make_classification(n_samples=40, n_features=6, n_informative=3, n_classes=3, seed=1)
  batch_size = 8
  epochs = 1
  optimizer = adam(lr=0.01)
}
MODEL
"$kiln" compile "$model" --emit=ir > "$out/ir_text/tiny_train.kir"
"$kiln" compile "$model" --emit=ir --mode=eval > "$out/ir_text/tiny_eval.kir"
"$kiln" compile "$model" --emit=graph -o "$out/model_proto/tiny.kgraph"
"$kiln" train "$model" --checkpoint "$out/checkpoint/tiny.kckpt" > /dev/null

python3 - "$out" <<'PY'
import gzip, struct, sys, zlib
out = sys.argv[1]
def idx(magic, dims, payload):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + bytes(payload)
images = idx(0x803, [3, 4, 4], range(48))
labels = idx(0x801, [3], [0, 9, 3])
open(f"{out}/idx/images.idx", "wb").write(images)
open(f"{out}/idx/labels.idx", "wb").write(labels)
open(f"{out}/idx/images.idx.gz", "wb").write(gzip.compress(images, mtime=0))
open(f"{out}/csv/plain.csv", "w").write("a,b,label\n1.5,2,0\n-3,4e-2,1\n0,0,2\n")
open(f"{out}/csv/quoted.csv", "w").write('"a","b",c,label\n1,"2",3,1\n4,5,,0\n')
def tensor(dtype, shape, payload):
    body = b"KILNTNSR" + struct.pack("<IIII", 1, dtype, len(shape), 0)
    body += b"".join(struct.pack("<q", d) for d in shape) + payload
    return body + struct.pack("<I", zlib.crc32(body))
open(f"{out}/tensor_file/f32.tensor", "wb").write(tensor(1, [2, 3], struct.pack("<6f", *range(6))))
open(f"{out}/tensor_file/i64.tensor", "wb").write(tensor(2, [4], struct.pack("<4q", 0, 1, 2, 1)))
PY
# ONNX models: a few of ONNX's own backend node tests (Debian's libonnx-testdata, Apache-2.0).
for t in gemm_default_vector_bias conv_with_strides_padding maxpool_2d_pads reshape_reduced_dims; do
  cp "/usr/share/libonnx-testdata/data/node/test_$t/model.onnx" "$out/onnx_model/$t.onnx"
done
echo "seeds written to $out:"
find "$out" -type f | sort
