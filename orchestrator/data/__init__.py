"""The data layer: text sources, tokenizer, cached token files, pre-tokenized corpora, and deterministic batches.

    prepared = prepare_corpus(None, cache_dir="results/.data_cache")   # the embedded Wikipedia sample
    prepared = prepare_tokens("data/shards", cache_dir="results/.data_cache")   # or a pre-tokenized corpus
    train = TokenBatches(prepared.train, seq_len=128)
    x, y = train.batch(step, batch_size=32, seed=0, rank=rank, world_size=world_size)
"""
from orchestrator.data.batches import TokenBatches
from orchestrator.data.epochs import epochs_for
from orchestrator.data.errors import DataError
from orchestrator.data.prepare import PreparedData, check_corpus, prepare_corpus
from orchestrator.data.sources import read_texts
from orchestrator.data.streams import TokenStream
from orchestrator.data.token_files import find_token_files, prepare_tokens, read_format
from orchestrator.data.tokenizer import ByteTokenizer, get_tokenizer

__all__ = ["ByteTokenizer", "DataError", "PreparedData", "TokenBatches", "TokenStream", "check_corpus", "epochs_for",
           "find_token_files", "get_tokenizer", "prepare_corpus", "prepare_tokens", "read_format", "read_texts"]
