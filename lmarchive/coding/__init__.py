"""Range coding over integer frequency tables, many streams in lock-step."""

from lmarchive.coding.rangecoder import MAX_TOTAL, BatchDecoder, BatchEncoder
from lmarchive.coding.tables import decode_step, encode_step

__all__ = ["MAX_TOTAL", "BatchDecoder", "BatchEncoder", "decode_step", "encode_step"]
