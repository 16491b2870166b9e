"""Training loop for spiking (and any) classifiers: config-driven, checkpointed, resumable, distributed.

* :class:`TrainConfig` — the recipe (optimizer: SGD, AdamW or LAMB; schedule with warm-up and cool-down;
  epochs, batch, clipping, label smoothing, mixup / CutMix, AMP, seed, checkpoints, logs), from Python or a
  ``.json`` / ``.toml`` / ``.yaml`` file. The published spiking-transformer recipes ship in
  :mod:`neuro.train.recipes` (``neuro train --list-recipes``).
* :class:`Trainer` — checks the data and the model before anything starts, trains with a tqdm bar
  (loss, accuracy, images/s, mean firing rate), writes ``metrics.csv``, ``firing_rates.csv`` (per
  spiking layer, each epoch) and TensorBoard scalars when ``tensorboard`` is installed, and
  checkpoints atomically every ``checkpoint_every`` steps and at the end.
* ``Trainer.fit(resume=True)`` continues from the newest checkpoint **exactly**: weights, optimizer,
  schedule, every RNG of every process, and the position inside the epoch.

Any ``nn.Module`` mapping ``[B, ...]`` or ``[T, B, ...]`` (``input_layout``) to logits ``[B, C]`` or
``[T, B, C]`` trains; spiking layers are found by their class attribute ``is_spiking = True``; a
``reset_state()`` method, when present, is called before every batch.

Example::

    from neuro.train import Trainer, TrainConfig
    cfg = TrainConfig(optimizer="adamw", lr=1e-3, epochs=20, batch_size=128, input_layout="repeat",
                      time_steps=4, checkpoint_every=500, out_dir="runs/digits")
    Trainer(model, train_set, cfg, eval_data=test_set).fit(resume=True)

From the command line (a factory returns the model; another the datasets)::

    neuro train --config recipe.json --model my_models.py:build --data my_data.py:build --resume
    neuro train --recipe spikformer-cifar10 --data my_cifar.py:build      # the recipe's model, published settings
    python -m neuro.train --config recipe.json --model pkg.models:build --data pkg.data:build --set lr=0.01

Several GPUs and several machines
---------------------------------
``torchrun`` starts one process per GPU and sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` and ``MASTER_PORT``; the trainer then joins the process group (NCCL on GPUs, gloo on
CPU), puts process ``LOCAL_RANK`` on ``cuda:LOCAL_RANK``, wraps the model in
``DistributedDataParallel`` and gives each process its slice of every **global** batch
(``batch_size`` is global: the recipe is the same on 1 or 64 GPUs). Only process 0 writes logs and
checkpoints; checkpoints hold every process's RNG state.

One machine, 8 GPUs::

    torchrun --standalone --nproc_per_node=8 -m neuro.train --config recipe.json --model ... --data ...

Two machines with 8 GPUs each (run on both; ``node0`` reachable from the other, port open)::

    torchrun --nnodes=2 --nproc_per_node=8 --node_rank=0 --rdzv_backend=c10d --rdzv_endpoint=node0:29500 \\
        --rdzv_id=job42 -m neuro.train --config recipe.json --model ... --data ... --resume
    # on the second machine the same line with --node_rank=1

``out_dir`` must be on storage every machine sees (resume reads the checkpoint on every process).
With ``--resume`` a job restarted by the scheduler (or by ``torchrun --max_restarts=N``) continues where
it stopped. BatchNorm statistics stay per process unless ``sync_bn=true`` (``SyncBatchNorm``).
CPU-only: ``torchrun --nproc_per_node=2`` uses gloo; ``OMP_NUM_THREADS`` sets the threads per process.
"""

from .checkpoint import latest_checkpoint, load_checkpoint, seed_everything
from .config import TrainConfig
from .metrics import FiringRateMonitor
from .optim import build_optimizer, build_scheduler, lr_factor
from .sampler import ResumableBatchSampler
from .trainer import Trainer

__all__ = ["TrainConfig", "Trainer", "ResumableBatchSampler", "FiringRateMonitor", "build_optimizer", "build_scheduler", "lr_factor",
           "load_checkpoint", "latest_checkpoint", "seed_everything"]
