//! `loam-text`: cleaning, sentence splitting, tokenizers and training datasets.
