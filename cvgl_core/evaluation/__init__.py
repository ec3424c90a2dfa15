"""Evaluation: descriptor extraction, bounded-memory retrieval metrics, result tables."""

from cvgl_core.evaluation.extract import (
    Descriptors,
    chunked_similarity,
    evaluate_retrieval,
    extract_descriptors,
)
from cvgl_core.evaluation.ground_truth import junk_absent_from_queries
from cvgl_core.evaluation.metrics import (
    ONE_PERCENT,
    chance_recall_at_1,
    one_percent_k,
    recall_curve,
    retrieval_metrics,
    summarise,
)
from cvgl_core.evaluation.ranking import Ranks, rank_positives, top_k
from cvgl_core.evaluation.results import markdown, paper_columns, table_caption, update_table

__all__ = [
    "ONE_PERCENT",
    "Descriptors",
    "Ranks",
    "chance_recall_at_1",
    "chunked_similarity",
    "evaluate_retrieval",
    "extract_descriptors",
    "junk_absent_from_queries",
    "markdown",
    "one_percent_k",
    "paper_columns",
    "rank_positives",
    "recall_curve",
    "retrieval_metrics",
    "summarise",
    "top_k",
    "table_caption",
    "update_table",
]
