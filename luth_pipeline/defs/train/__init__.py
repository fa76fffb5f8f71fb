"""Fine-tuning: `finetuned_checkpoint`, one full fine-tune per base model."""
