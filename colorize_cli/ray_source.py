"""A Ray Data datasource over a job-list file: blocks of a few jobs, read lazily, with no CPU.

``ray.data.read_text`` makes one block per file, so a whole plan would go to a single worker, and
a ``repartition`` after it needs CPUs that a full actor pool holds (the run stalls). This source
splits the file at line offsets the driver noted while writing it (8 bytes per block), and its
read tasks reserve no CPU: reading a few lines of paths is not work worth a core.

Imported only by :mod:`colorize_cli.ray_batch` when a Ray run starts (it imports Ray Data).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
from ray.data import Datasource, ReadTask
from ray.data.block import BlockMetadata


class JobListSource(Datasource):
    """Rows ``{"text": job line}`` of ``path``; ``starts[i]`` is the byte offset of block ``i``,
    ``sizes[i]`` its number of lines."""

    def __init__(self, path: str, starts: Sequence[int], sizes: Sequence[int]) -> None:
        self.path, self.starts, self.sizes = path, list(starts), list(sizes)

    def estimate_inmemory_data_size(self) -> int:
        return 200 * sum(self.sizes)

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None, data_context=None) -> list[ReadTask]:
        n = len(self.starts)
        tasks = max(1, min(parallelism, n))
        bounds = [round(i * n / tasks) for i in range(tasks + 1)]
        return [self._task(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]

    def _task(self, first: int, end: int) -> ReadTask:
        path, starts, sizes = self.path, self.starts[first:end], self.sizes[first:end]

        def read() -> Iterator[pa.Table]:
            with open(path, encoding="ascii") as fh:
                for start, size in zip(starts, sizes, strict=True):
                    fh.seek(start)
                    yield pa.table({"text": [fh.readline() for _ in range(size)]})

        rows = sum(sizes)
        return ReadTask(read, BlockMetadata(num_rows=rows, size_bytes=200 * rows, exec_stats=None, input_files=None))
