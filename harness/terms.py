"""The vocabulary every layer shares: scenarios, precisions, modes and MLPerf's numbers for
ResNet-50. Defined once; `harness` and `audit` both import it, and it imports nothing."""

from __future__ import annotations

from enum import StrEnum


class Scenario(StrEnum):
    """A LoadGen scenario. A StrEnum: equal to, and serialised as, LoadGen's own name."""

    OFFLINE = "Offline"
    SINGLE_STREAM = "SingleStream"
    MULTI_STREAM = "MultiStream"
    SERVER = "Server"

    def __repr__(self) -> str:  # messages quote the name as the user wrote it: 'Offline'
        return repr(self.value)

    @property
    def one_sample_per_query(self) -> bool:
        """SingleStream issues one sample and waits for it: batch 1, one instance busy."""
        return self is Scenario.SINGLE_STREAM

    @property
    def one_query_at_a_time(self) -> bool:
        """The next query is issued when the previous one completed (SingleStream, MultiStream)."""
        return self in (Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM)

    @property
    def latency_bound(self) -> bool:
        """The metric is a latency percentile (lower is better), not samples/s."""
        return self.one_query_at_a_time

    @property
    def batches_across_queries(self) -> bool:
        """Queries of one sample arrive on their own (Server): the SUT batches them itself."""
        return self is Scenario.SERVER

    @property
    def percentile(self) -> float | None:
        """The latency percentile the scenario's metric (or constraint) is stated at."""
        return {Scenario.SINGLE_STREAM: 0.90, Scenario.MULTI_STREAM: 0.99, Scenario.SERVER: 0.99}.get(self)

    @property
    def target_key(self) -> str:
        """The RunConfig key that sets LoadGen's expectation: a rate or a latency."""
        return "target_latency_ms" if self.latency_bound else "target_qps"

    @property
    def metric(self) -> str:
        """How the headline figure is named in tables and profiles."""
        if self.latency_bound:
            return f"p{self.percentile * 100:.0f} ms"
        return "samples/s"

    def better(self, a: float, b: float) -> bool:
        """Whether headline value `a` beats `b` in this scenario."""
        return a < b if self.latency_bound else a > b


# Every scenario the harness runs; the order of tables and sweeps.
RUNNABLE_SCENARIOS = (Scenario.OFFLINE, Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM, Scenario.SERVER)
# The study's grid: throughput at large batch and latency at batch 1 (sweep's default).
STUDY_SCENARIOS = (Scenario.OFFLINE, Scenario.SINGLE_STREAM)
PRECISIONS = ("fp32", "bf16", "int8")
MODES = ("performance", "accuracy")
EPS = ("auto", "cpu", "openvino")

# MLPerf Inference, ResNet-50 (mlperf.conf and the submission rules).
MODEL_KEY = "resnet50"  # the key mlperf.conf's ResNet-50 lines are written for; the tree's benchmark
PERFORMANCE_SAMPLE_COUNT = 1024  # mlperf.conf's resnet50 performance_sample_count_override
MIN_DURATION_S = 600.0  # every scenario's min_duration
OFFLINE_MIN_SAMPLES_PER_QUERY = 24_576
DATASET_SIZE = 50_000  # ImageNet 2012 validation
ACCURACY_TARGET = 76.46 * 0.99  # 99 % of FP32 top-1: 75.6954 %

# The three LoadGen seeds each MLPerf Inference round fixes in mlperf.conf (qsl, sample_index,
# schedule): the seeds a LoadGen carries say which round its runs belong to.
ROUND_SEEDS = {
    "v5.0": (6023615788873153749, 15036839855038426416, 9933818062894767841),
    "v5.1": (1780908523862526354, 14771362308971278857, 18209322760996052031),
    "v6.0": (2465351861681999779, 14276810075590677512, 3936089224930324775),
    "v6.1": (2085463073848966840, 2747215439041700203, 16159082839903944936),
}

SYNTHETIC_WEIGHTS_NOTE = "synthetic weights: performance is representative, accuracy is not"
