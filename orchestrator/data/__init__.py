"""The data layer: text sources, tokenizer, cached token files, and deterministic batches.

    prepared = prepare_corpus(None, cache_dir="results/.data_cache")   # the embedded Wikipedia sample
    train = TokenBatches(prepared.train_path, seq_len=128, dtype=prepared.dtype)
    x, y = train.batch(step, batch_size=32, seed=0, rank=rank, world_size=world_size)
"""
from orchestrator.data.batches import TokenBatches
from orchestrator.data.epochs import epochs_for
from orchestrator.data.errors import DataError
from orchestrator.data.prepare import PreparedData, check_corpus, prepare_corpus
from orchestrator.data.sources import read_texts
from orchestrator.data.tokenizer import ByteTokenizer, get_tokenizer

__all__ = ["ByteTokenizer", "DataError", "PreparedData", "TokenBatches", "check_corpus", "epochs_for",
           "get_tokenizer", "prepare_corpus", "read_texts"]
