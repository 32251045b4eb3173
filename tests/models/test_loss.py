"""The training loss: cross-entropy of β·logits, or MSE against one-hot targets, the same in
the loop and in the per-sample gradients of the analysis."""

import torch

from grokscan.analysis.families.replayed import per_sample_grads
from grokscan.models.loss import loss


def test_mse_is_the_mean_square_error_against_one_hot_targets():
    logits = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 2.0]])
    y = torch.tensor([0, 1])
    want = ((logits - torch.eye(3)[y]) ** 2).mean()
    torch.testing.assert_close(loss(logits, y, kind="mse"), want)
    torch.testing.assert_close(loss(logits, y, beta=2.0),
                               torch.nn.functional.cross_entropy(2 * logits, y))


def test_per_sample_gradients_of_mse_are_each_samples_own():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    x, y = torch.randn(5, 4), torch.tensor([0, 2, 1, 1, 0])
    got = per_sample_grads(model, x, y, 1.0, ["weight"], "mse")["weight"]
    for i in range(5):
        model.zero_grad()
        loss(model(x[i:i + 1]), y[i:i + 1], kind="mse").backward()
        torch.testing.assert_close(got[i], model.weight.grad)
