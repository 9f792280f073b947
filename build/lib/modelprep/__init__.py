"""Building and checking models, beside the serving runtime: HF -> ONNX export with a parity gate,
precision conversion, the HuggingFace PyTorch fp32 baseline, the embedded models, the bench.

It needs torch, transformers and optimum-onnx; the runtime/ package never imports it.
"""
