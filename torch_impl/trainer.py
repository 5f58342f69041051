"""A torch Trainer with the NumPy Trainer's interface, on any device."""
import copy
import io
import math

import torch

from dlfs_common.checkpoint import arrays_difference, unreadable_checkpoint
from dlfs_common.checks import check_finite, check_labels
from dlfs_common.training import (
    TrainerBase,
    batch_generator,
    data_fingerprint,
    draw_batch_indices,
    first_divergence,
    generator_state,
    run_settings,
    set_generator_state,
)

from .acceleration import Acceleration
from .devices import resolve_device
from .distributed import rank_and_size, shard_dropout, share_of_batch, share_of_set, synchronise_batch_norm
from .optimizers import make_optimizer


class Trainer(TrainerBase):
    """Train a torch_impl network as numpy_impl.trainer.Trainer trains its twin.

    The same arguments, plus `device` ('cpu', 'cuda', 'auto'). The data are
    moved to the device once; the batch order is drawn from the same NumPy
    generator the NumPy trainer uses (so equal seeds give equal batches), an
    epoch's steps at a time, and indexed on the device, so a step does no host work (without a seed, from
    NumPy's global state, as the book draws; the NumPy trainer, drawing lazily,
    interleaves those draws with its dropout masks, so only seeded runs match). Losses stay on the
    device until an epoch ends. After train(): train_loss_list, train_acc_list,
    test_acc_list as in the NumPy trainer. `progress(step, max_iter, loss)` is
    called after each step with the loss as a 0-d tensor (float() syncs).
    `acceleration` ('compile', 'bf16', 'cuda_graphs', comma-separated, or a
    torch_impl.acceleration.Acceleration) speeds up the training steps; the
    per-epoch accuracies are computed without it.
    `loss_after_update=True` records, as the book does, the loss of a second
    forward pass after the optimizer step (in the network's loss mode); False
    records the loss of the training forward itself, before the step, which
    saves that second forward (its cost on a GPU: `python -m experiments.bench`,
    and the README's speed section). The two curves differ by one step's progress.
    A loss that is not finite raises dlfs_common.training.TrainingDiverged naming
    the step, unless allow_divergence=True; the losses stay on the device between
    epochs, so it is raised when the epoch (or train()) ends.
    In a process group of several ranks (torchrun; torch_impl.distributed), every
    rank trains on its equal share of the same global batches, through
    DistributedDataParallel, batch norm over the whole batch and the whole batch's
    dropout masks, so that the run is the one-process run; losses and accuracies
    are those of the whole batch and set, and only rank 0 prints and reports progress.
    """

    def __init__(self, network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100,
                 optimizer="SGD", optimizer_param={"lr": 0.01},  # noqa: B006 (the book's signature; never mutated)
                 evaluate_sample_num_per_epoch=None,
                 verbose=True, seed=None, progress=None, device="auto", acceleration=None,
                 loss_after_update=True, allow_divergence=False):
        device = resolve_device(device)
        self.rank, self.ranks = rank_and_size()
        if self.ranks > 1:
            # only rank 0 prints and shows progress; every rank trains on its share of each batch
            verbose, progress = verbose and self.rank == 0, progress if self.rank == 0 else None
            self.batch_share = share_of_batch(mini_batch_size, self.rank, self.ranks)
        dtype = next(network.parameters()).dtype
        x_train, x_test = (torch.as_tensor(x, device=device, dtype=dtype) for x in (x_train, x_test))
        # one-hot labels, as the book allows, become class indices
        t_train, t_test = (torch.as_tensor(check_labels(t.cpu().numpy() if torch.is_tensor(t) else t, len(t),
                                                        network.output_size), device=device)
                           for t in (t_train, t_test))
        super().__init__(network.to(device), x_train, t_train, x_test, t_test, epochs, mini_batch_size,
                         evaluate_sample_num_per_epoch, verbose, progress, allow_divergence)
        self.device, self.dtype = device, dtype
        self.acceleration = Acceleration.parse(acceleration)
        if self.ranks > 1:  # before the optimizer, which must hold the batch norms that will train
            self.prepare_for_ranks()
        self.optimizer = make_optimizer(optimizer, self.network, **optimizer_param)
        self.settings = run_settings(optimizer, optimizer_param, mini_batch_size, seed, epochs,
                                     evaluate_sample_num_per_epoch, str(dtype).removeprefix("torch."),
                                     data_fingerprint(self.x_train, self.t_train, self.x_test, self.t_test))
        self.settings["loss_after_update"] = loss_after_update
        self.loss_after_update = loss_after_update
        self.seed = seed
        self.rng = batch_generator(seed)  # the batch order: batch_rows draws it an epoch at a time
        self.drawn_steps, self.drawn_rows, self.drawn_from = 0, None, 0
        if self.ranks > 1:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.forward = torch.nn.parallel.DistributedDataParallel(self.network, device_ids=device_ids)
        elif self.max_iter:
            self.forward = self.acceleration.prepare(self.network, self.x_train[self.batch_rows(0)])
        else:  # no step to take, nothing to speed up
            self.forward = self.network
        self._pending_losses = []

    def prepare_for_ranks(self):
        """The network made to train on all ranks as on one (torch_impl.distributed): batch norm over the whole
        batch, the whole batch's dropout masks; DistributedDataParallel then averages the gradients."""
        if self.acceleration != Acceleration():
            raise ValueError(f"acceleration {self.acceleration} is not supported across ranks; train without it")
        if any(type(module) is torch.nn.Dropout for module in self.network.modules()):
            raise ValueError("inverted dropout (nn.Dropout) draws its masks per rank; across ranks the networks "
                             "use the book's dropout (inverted_dropout=False)")
        synchronise_batch_norm(self.network, self.device)
        shard_dropout(self.network, self.rank, self.ranks)

    def check_finite(self, name, x):
        """As the NumPy Trainer checks (dlfs_common.checks.check_finite), on the device; the host only looks
        for the first bad index."""
        if not bool(torch.isfinite(x).all()):
            check_finite(name, x.cpu().numpy())

    def batch_rows(self, step):
        """The row indices of step's batch (steps asked in increasing order), drawn on the host an epoch's
        steps at a time from the generator the NumPy Trainer draws from (draw_batch_indices: equal seeds give
        equal batches) and moved to the device at once, so that a step does no host work and memory does
        not grow with the number of epochs."""
        while step >= self.drawn_steps:
            count = max(min(math.ceil(self.iter_per_epoch), self.max_iter - self.drawn_steps), 1)
            rows = draw_batch_indices(self.rng, self.train_size, self.batch_size, count)
            self.drawn_rows, self.drawn_from = torch.as_tensor(rows, device=self.device), self.drawn_steps
            self.drawn_steps += count
        return self.drawn_rows[step - self.drawn_from]

    def accuracy(self, x, t):
        """Accuracy on (x, t); across ranks each scores its share of the rows and the counts are summed."""
        if self.ranks == 1:
            return self.network.accuracy(x, t)
        rows = share_of_set(len(x), self.rank, self.ranks)
        correct = torch.tensor([self.network.accuracy(x[rows], t[rows]) * len(x[rows]) if len(x[rows]) else 0.0],
                               dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(correct)
        return round(float(correct)) / len(x)

    def record_losses(self):
        if self._pending_losses:
            losses = torch.stack(self._pending_losses)
            if self.ranks > 1:  # each rank's loss is the mean over an equal share of the batch
                torch.distributed.all_reduce(losses)
                losses = losses / self.ranks
            losses = losses.tolist()
            diverged = None if self.allow_divergence else first_divergence(losses, len(self.train_loss_list) + 1)
            self.train_loss_list += losses
            self._pending_losses = []
            for loss in losses:
                self.print_loss(loss)
            if diverged is not None:
                raise diverged

    def train_step(self):
        batch_mask = self.batch_rows(self.current_iter)
        if self.ranks > 1:
            batch_mask = batch_mask[self.batch_share]
        x_batch, t_batch = self.x_train[batch_mask], self.t_train[batch_mask]

        self.network.train()
        self.optimizer.zero_grad(set_to_none=True)
        data_loss = self.network.data_loss(self.scores(x_batch), t_batch)
        (data_loss + self.network.autograd_penalty()).backward()
        if not self.loss_after_update:
            with torch.no_grad():
                loss = data_loss.detach() + self.network.weight_decay_penalty()
        self.optimizer.step()

        if self.loss_after_update:  # the book's: a second forward, in its network's loss mode
            # a network without dropout or batch norm gives the same scores in either mode, and the
            # training mode's forward is the one cuda_graphs captured and compile traced already
            self.network.train(self.network.loss_in_train_mode or self.network.same_in_both_modes)
            with torch.no_grad():
                loss = self.network.data_loss(self.scores(x_batch), t_batch) + self.network.weight_decay_penalty()
        self._pending_losses.append(loss)
        self.end_step()
        return loss

    def scores(self, x):
        """The network's scores for a training batch, through the speed-ups, in the network's dtype."""
        with self.acceleration.autocast(self.device):
            scores = self.forward(x)
        return scores.to(self.dtype)

    def checkpoint_payload(self):
        """The checkpoint's contents (save_checkpoint writes them): everything the rest of the run depends on, so that a
        Trainer built as this one was and loaded from it ends where this one would, bit for bit on the CPU: the model
        (parameters and buffers) and the optimizer's state, every random generator the run draws from (torch's on the
        CPU and CUDA, for dropout; the batch order's, with the batches drawn ahead), the position (step, epoch) and the
        curves so far, and the settings that must match, as torch.save writes them. Across ranks every rank calls it
        (the losses are gathered first) and rank 0 alone gets them (None elsewhere): the state of one process, which a
        Trainer on any number of ranks resumes."""
        position = self.position()
        if self.rank != 0:  # every rank holds the same state: rank 0 writes it, for any number of ranks to resume
            return None
        checkpoint = {"model": self.network.state_dict(), "optimizer": self.optimizer.state_dict(),
                      "network_class": type(self.network).__name__,
                      "optimizer_class": type(self.optimizer).__name__, "settings": self.settings,
                      "position": position, "random": self.random_state()}
        payload = io.BytesIO()
        torch.save(checkpoint, payload)
        return payload.getvalue()

    def random_state(self) -> dict:
        """Every generator the rest of the run draws from, as torch.load(weights_only=True) reads it back."""
        return {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "batch_order": generator_state(self.rng), "drawn_steps": self.drawn_steps,
                "drawn_from": self.drawn_from, "drawn_rows": None if self.drawn_rows is None else self.drawn_rows.cpu()}

    def load_checkpoint_payload(self, payload: bytes, path):
        """Restore what checkpoint_payload gave (torch.load with weights_only=True), read from `path`; training
        resumes there. Raises ValueError naming the file if it was written by a Trainer of another network,
        optimizer or settings (naming what differs); then nothing has changed."""
        try:
            checkpoint = torch.load(io.BytesIO(payload), map_location=self.device, weights_only=True)
        except Exception as error:  # a digest that matches a payload torch cannot read: not ours
            raise unreadable_checkpoint(path, payload, "torch_impl", error) from None
        difference = self.checkpoint_difference(checkpoint)
        if difference:
            raise ValueError(f"{path} does not fit this Trainer: {difference}; nothing was loaded")
        saved_model = copy.deepcopy(self.network.state_dict())
        saved_optimizer = copy.deepcopy(self.optimizer.state_dict())
        try:
            self.network.load_state_dict(checkpoint["model"])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
        except Exception as error:  # what the checks above did not foresee: put everything back, then say so
            self.network.load_state_dict(saved_model)
            self.optimizer.load_state_dict(saved_optimizer)
            raise ValueError(f"{path} could not be loaded ({type(error).__name__}: {error}); nothing was loaded") \
                from error
        self._pending_losses = []
        self.restore_position(checkpoint["position"])
        self.restore_random_state(checkpoint["random"])

    def restore_random_state(self, state):
        torch.set_rng_state(state["torch"].cpu())
        if state["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
        set_generator_state(self.rng, state["batch_order"])
        self.drawn_steps, self.drawn_from = state["drawn_steps"], state["drawn_from"]
        rows = state["drawn_rows"]
        self.drawn_rows = None if rows is None else rows.to(self.device)

    def checkpoint_difference(self, checkpoint) -> str:
        """'' if `checkpoint` (save_checkpoint's dict) fits this Trainer, else what differs: a missing entry, the
        network or optimizer class, a setting (optimizer, its parameters, batch size, seed, epochs, dtype), a
        parameter's name, shape or dtype, the optimizer's parameter groups."""
        missing = [key for key in ("model", "optimizer", "network_class", "optimizer_class", "settings",
                                   "position", "random") if key not in checkpoint]
        if missing:
            return f"it lacks {missing}"
        def described(state_dict):
            return {key: (str(value.dtype).removeprefix("torch."), tuple(value.shape))
                    for key, value in state_dict.items()}
        difference = self.run_difference(checkpoint) or arrays_difference(described(checkpoint["model"]),
                                                                          described(self.network.state_dict()))
        if difference:
            return difference
        groups = checkpoint["optimizer"].get("param_groups", [])
        own_groups = self.optimizer.state_dict()["param_groups"]
        if len(groups) != len(own_groups):
            return f"its optimizer has {len(groups)} parameter groups, this one {len(own_groups)}"
        for index, (group, own_group) in enumerate(zip(groups, own_groups)):
            if set(group) != set(own_group) or len(group["params"]) != len(own_group["params"]):
                return (f"its optimizer's parameter group {index} has {sorted(group)} for "
                        f"{len(group.get('params', []))} parameters, this Trainer's {sorted(own_group)} for "
                        f"{len(own_group['params'])}")
        return ""
