"""The book's Trainer (common/trainer.py): mini-batch training with learning curves."""

from dlfs_common.checks import check_labels
from dlfs_common.training import TrainerBase, batch_generator

from .optimizers import make_optimizer


class Trainer(TrainerBase):
    """Train `network` with mini-batches drawn at random (with replacement).

    optimizer: a name ('SGD', 'Momentum', 'Nesterov', 'AdaGrad', 'RMSprop',
    'Adam', any case) with its hyper-parameters in optimizer_param. After
    train(): train_loss_list (one loss per step, taken after the update, as in
    the book), train_acc_list and test_acc_list (one per epoch, on at most
    evaluate_sample_num_per_epoch samples). `seed` makes the batch order
    reproducible; without it batches come from NumPy's global state, as in the
    book (np.random.seed repeats a run). verbose prints the book's lines: each
    step's loss, each epoch's accuracies, the final test accuracy. A loss that is
    not finite raises TrainingDiverged naming the step, unless allow_divergence=True.
    """

    def __init__(self, network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100,
                 optimizer="SGD", optimizer_param={"lr": 0.01},  # noqa: B006 (the book's signature; never mutated)
                 evaluate_sample_num_per_epoch=None,
                 verbose=True, seed=None, progress=None, allow_divergence=False):
        super().__init__(network, x_train, t_train, x_test, t_test, epochs, mini_batch_size,
                         evaluate_sample_num_per_epoch, verbose, progress, allow_divergence)
        for t in (t_train, t_test):  # before any step, as the torch Trainer does
            check_labels(t, len(t), network.output_size)
        self.optimizer = make_optimizer(optimizer, **optimizer_param)
        self.rng = batch_generator(seed)

    def train_step(self):
        batch_mask = self.rng.choice(self.train_size, self.batch_size)
        x_batch = self.x_train[batch_mask]
        t_batch = self.t_train[batch_mask]

        grads = self.network.gradient(x_batch, t_batch)
        self.optimizer.update(self.network.params, grads)

        loss = float(self.network.loss(x_batch, t_batch))
        self.train_loss_list.append(loss)
        self.print_loss(loss)
        self.check_loss(loss)
        self.end_step()
        return loss
