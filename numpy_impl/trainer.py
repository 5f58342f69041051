"""The book's Trainer (common/trainer.py): mini-batch training with learning curves."""
import numpy as np

from .optimizers import make_optimizer


def draw_batch_indices(rng, train_size, batch_size, steps):
    """Row indices of `steps` mini-batches, drawn with replacement like the book.

    One row per step, drawn one call per step, so that a trainer drawing lazily
    and one drawing everything up front (the torch trainer) see the same batches.
    """
    rows = [rng.choice(train_size, batch_size) for _ in range(steps)]
    return np.array(rows, dtype=np.int64).reshape(steps, batch_size)


def check_training_data(x_train, t_train, x_test, t_test, mini_batch_size, evaluate_sample_num_per_epoch=None):
    """Raise ValueError for mismatched sample counts, an empty training set, a bad batch size or an
    empty evaluation slice."""
    for name, x, t in (("train", x_train, t_train), ("test", x_test, t_test)):
        if len(x) != len(t):
            raise ValueError(f"x_{name} has {len(x)} samples but t_{name} has {len(t)}")
    if len(x_train) == 0:
        raise ValueError("x_train is empty")
    if mini_batch_size < 1:
        raise ValueError(f"mini_batch_size must be >= 1; got {mini_batch_size}")
    if evaluate_sample_num_per_epoch is not None and evaluate_sample_num_per_epoch < 1:
        raise ValueError("evaluate_sample_num_per_epoch must be None (all) or >= 1; "
                         f"got {evaluate_sample_num_per_epoch}")


class TrainingDiverged(FloatingPointError):
    """A training loss that is not finite (inf or nan): `step` (1-based) and `loss` say where."""

    def __init__(self, step, loss):
        super().__init__(f"training diverged at step {step}: the loss is {loss}; lower the learning rate, or "
                         "pass allow_divergence=True to train on")
        self.step, self.loss = step, loss


def first_divergence(losses, first_step):
    """TrainingDiverged for the first non-finite loss of `losses` (losses[0] being step `first_step`), or None."""
    for offset, loss in enumerate(losses):
        if not np.isfinite(loss):
            return TrainingDiverged(first_step + offset, loss)
    return None


def starts_epoch(current_iter, current_epoch, iter_per_epoch):
    """Whether step `current_iter` is the first of epoch `current_epoch + 1`.

    Fix of the book's code: it tests `current_iter % iter_per_epoch == 0` with a
    float iter_per_epoch (60000 / 128 = 468.75), which is true at step 0 and then
    almost never, so accuracies are missing for most epochs. For a whole number of
    steps per epoch this gives the same steps as the book.
    """
    return current_iter >= current_epoch * iter_per_epoch


def record_epoch_accuracy(trainer):
    """Start the trainer's next epoch: append its network's train and test accuracy (on at most
    evaluate_sample_num_per_epoch samples each) to the trainer's lists, and print them if verbose.
    Shared by the NumPy and the torch Trainer."""
    trainer.current_epoch += 1
    count = trainer.evaluate_sample_num_per_epoch
    train_acc = trainer.network.accuracy(trainer.x_train[:count], trainer.t_train[:count])
    test_acc = trainer.network.accuracy(trainer.x_test[:count], trainer.t_test[:count])
    trainer.train_acc_list.append(train_acc)
    trainer.test_acc_list.append(test_acc)
    if trainer.verbose:
        print(f"=== epoch:{trainer.current_epoch}, train acc:{train_acc:.4f}, test acc:{test_acc:.4f} ===")


class Trainer:
    """Train `network` with mini-batches drawn at random (with replacement).

    optimizer: a name ('SGD', 'Momentum', 'Nesterov', 'AdaGrad', 'RMSprop',
    'Adam'; the book's code misspells 'rmsprop' and cannot select it) with its
    hyper-parameters in optimizer_param. After train(): train_loss_list (one
    loss per step, taken after the update, as in the book), train_acc_list and
    test_acc_list (one per epoch, on at most evaluate_sample_num_per_epoch
    samples). `seed` makes the batch order reproducible. A loss that is not
    finite raises TrainingDiverged naming the step, unless allow_divergence=True.
    """

    def __init__(self, network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100,
                 optimizer="SGD", optimizer_param={"lr": 0.01}, evaluate_sample_num_per_epoch=None,
                 verbose=True, seed=None, progress=None, allow_divergence=False):
        check_training_data(x_train, t_train, x_test, t_test, mini_batch_size, evaluate_sample_num_per_epoch)
        self.network = network
        self.verbose = verbose
        self.x_train, self.t_train = x_train, t_train
        self.x_test, self.t_test = x_test, t_test
        self.epochs = epochs
        self.batch_size = mini_batch_size
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch
        self.optimizer = make_optimizer(optimizer, **optimizer_param)
        self.rng = np.random.default_rng(seed)
        self.progress = progress
        self.allow_divergence = allow_divergence

        self.train_size = x_train.shape[0]
        self.iter_per_epoch = max(self.train_size / mini_batch_size, 1)
        self.max_iter = int(epochs * self.iter_per_epoch)
        self.current_iter = 0
        self.current_epoch = 0

        self.train_loss_list = []
        self.train_acc_list = []
        self.test_acc_list = []

    def train_step(self):
        batch_mask = self.rng.choice(self.train_size, self.batch_size)
        x_batch = self.x_train[batch_mask]
        t_batch = self.t_train[batch_mask]

        grads = self.network.gradient(x_batch, t_batch)
        self.optimizer.update(self.network.params, grads)

        loss = float(self.network.loss(x_batch, t_batch))
        self.train_loss_list.append(loss)
        if not self.allow_divergence and not np.isfinite(loss):
            raise TrainingDiverged(self.current_iter + 1, loss)

        if starts_epoch(self.current_iter, self.current_epoch, self.iter_per_epoch):
            record_epoch_accuracy(self)
        self.current_iter += 1
        return loss

    def train(self):
        """Run all steps; returns the final test accuracy on the whole test set.

        `progress`, if given, is called as progress(step, max_iter, loss) after each step.
        """
        for _ in range(self.max_iter):
            loss = self.train_step()
            if self.progress is not None:
                self.progress(self.current_iter, self.max_iter, loss)
        test_acc = self.network.accuracy(self.x_test, self.t_test)
        if self.verbose:
            print(f"=============== Final Test Accuracy ===============\ntest acc:{test_acc:.4f}")
        return test_acc
