"""The completion engine, below HTTP: cl100k tokenizer, trained language model, sampling, the model table."""
