"""Models: loading any local Hugging Face causal LM, tiny builders trained from scratch, the
shared training loop, and the family adapters every metric, attack and method goes through."""
