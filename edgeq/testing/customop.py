"""A custom op library built in tests: `EdgeqTimesTwo` (y = 2x, float32), the corpus custom_op model's op.

    python -m edgeq.testing.customop OUT_DIR [COMPILER]   # writes libedgeq_timestwo.so

It is written against the ABI of TFLite 2.14's public C structs (TfLiteTensor, TfLiteNode,
TfLiteContext, TfLiteRegistration from tensorflow/lite/core/c/common.h), declared here, no
TFLite header needed: what a user's library built with TensorFlow's headers amounts to. Its
registerer calls tflite::MutableOpResolver::AddCustom by its mangled name, which
tflite-runtime's interpreter module exports. TfLiteTensor's size (112 bytes on 64-bit) was
checked on tflite-runtime 2.14 here: tensor 1's name sits 112 bytes after tensor 0's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REGISTERER = "EdgeqRegisterTimesTwo"
LIBRARY = "libedgeq_timestwo.so"

SOURCE = r"""/* A custom op for TFLite's classic Interpreter, written against the ABI of TFLite's public C
   structs only (tensorflow/lite/core/c/common.h, as of 2.14); no TFLite header is used. */
#include <stddef.h>
#include <stdint.h>

typedef struct { int size; int data[]; } TfLiteIntArray;
typedef struct { TfLiteIntArray *inputs, *outputs; } TfLiteNode;            /* leading fields */
typedef struct {                       /* all of it: context->tensors is an array of these */
  int type; void *data; TfLiteIntArray *dims;
  struct { float scale; int32_t zero_point; } params;
  int allocation_type; size_t bytes; const void *allocation; const char *name; void *delegate;
  int buffer_handle; _Bool data_is_stale, is_variable;
  struct { int type; void *params; } quantization;
  void *sparsity; const TfLiteIntArray *dims_signature;
} TfLiteTensor;
_Static_assert(sizeof(void *) != 8 || sizeof(TfLiteTensor) == 112, "TfLiteTensor of TFLite 2.14 on LP64");
typedef struct { size_t tensors_size; void *get_execution_plan; TfLiteTensor *tensors; } TfLiteContext;
typedef struct {
  void *(*init)(TfLiteContext *, const char *, size_t);
  void (*free)(TfLiteContext *, void *);
  int (*prepare)(TfLiteContext *, TfLiteNode *);
  int (*invoke)(TfLiteContext *, TfLiteNode *);
  const char *(*profiling_string)(const TfLiteContext *, const TfLiteNode *);
  int32_t builtin_code;
  const char *custom_name;
  int version;
  void *registration_external;
  void *later_fields[8]; /* zeros for fields newer releases add; the resolver copies what it knows */
} TfLiteRegistration;

enum { kTfLiteOk = 0, kTfLiteError = 1, kTfLiteFloat32 = 1 };

/* tflite::MutableOpResolver::AddCustom(const char*, const TfLiteRegistration*, int): a non-virtual
   member, called with the resolver as its first argument (Itanium C++ ABI). */
extern void _ZN6tflite17MutableOpResolver9AddCustomEPKcPK18TfLiteRegistrationi(
    void *resolver, const char *name, const TfLiteRegistration *registration, int version);

static int prepare(TfLiteContext *context, TfLiteNode *node) {
  if (node->inputs->size != 1 || node->outputs->size != 1) return kTfLiteError;
  TfLiteTensor *in = &context->tensors[node->inputs->data[0]];
  TfLiteTensor *out = &context->tensors[node->outputs->data[0]];
  return in->type == kTfLiteFloat32 && out->type == kTfLiteFloat32 ? kTfLiteOk : kTfLiteError;
}

static int invoke(TfLiteContext *context, TfLiteNode *node) {
  const TfLiteTensor *in = &context->tensors[node->inputs->data[0]];
  TfLiteTensor *out = &context->tensors[node->outputs->data[0]];
  size_t n = (in->bytes < out->bytes ? in->bytes : out->bytes) / sizeof(float);
  for (size_t i = 0; i < n; i++) ((float *)out->data)[i] = 2.0f * ((const float *)in->data)[i];
  return kTfLiteOk;
}

static const TfLiteRegistration times_two = {NULL, NULL, prepare, invoke};

void EdgeqRegisterTimesTwo(void *resolver) {
  _ZN6tflite17MutableOpResolver9AddCustomEPKcPK18TfLiteRegistrationi(resolver, "EdgeqTimesTwo", &times_two, 1);
}
"""


def build(folder: Path, compiler: str = "gcc") -> Path:
    """Compile the library into `folder`; RuntimeError naming what to install when there is no compiler."""
    if shutil.which(compiler) is None:
        raise RuntimeError(f"no C compiler {compiler!r}: apt-get install gcc (or gcc-aarch64-linux-gnu for a Pi)")
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "edgeq_timestwo.c"
    source.write_text(SOURCE)
    out = folder / LIBRARY
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", str(out), str(source)],
                   check=True, capture_output=True, text=True)
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1]), *(sys.argv[2:3] or [])))
