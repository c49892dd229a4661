"""Inference-time methods: no weight changes; the model is wrapped (an instruction before
the prompt, a guard on decoding) and the wrapper is saved with it."""
