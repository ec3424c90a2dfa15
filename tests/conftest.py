import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

# Tests use tiny tensors: one intra-op thread is as fast as two on them, and it avoids
# OpenMP oversubscription (8x slowdowns seen) when other processes share the 2 cores.
torch.set_num_threads(int(os.environ.get("CVGL_TEST_THREADS", "1")))
