"""CTC fine-tuning with transformers models and accelerate (`asr train`)."""
