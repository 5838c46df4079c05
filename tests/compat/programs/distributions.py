"""Programs built on torch.distributions: an actor-critic update (Categorical policy, Normal value noise),
a VAE-style loss (reparameterised Normal, analytic KL) and a Gaussian fit (MultivariateNormal). Sampling
streams differ between the libraries, so actions and noise come from NumPy; everything else is the
library's own."""
import numpy as np

from ._harness import program


@program(dtype="float64")
def actor_critic_update(torch, init):
    """REINFORCE with a baseline: -log pi(a|s) * advantage - entropy bonus, plus a Gaussian critic loss."""
    nn = torch.nn
    D = torch.distributions
    actor = init(nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3)).double())
    critic = init(nn.Linear(4, 1).double())
    params = list(actor.parameters()) + list(critic.parameters())
    opt = torch.optim.Adam(params, lr=0.01)
    rng = np.random.default_rng(3)
    states = torch.tensor(rng.standard_normal((8, 4)))
    actions = torch.tensor(rng.integers(0, 3, 8))
    returns = torch.tensor(rng.standard_normal(8))
    losses, entropies = [], []
    for _ in range(3):
        dist = D.Categorical(logits=actor(states))
        value = critic(states).squeeze(-1)
        advantage = (returns - value).detach()
        critic_nll = -D.Normal(value, 0.5).log_prob(returns).mean()
        loss = -(dist.log_prob(actions) * advantage).mean() - 0.01 * dist.entropy().mean() + critic_nll
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        entropies.append(dist.entropy().detach().numpy())
    return {"losses": losses, "entropies": entropies, "probs": dist.probs.detach().numpy(),
            "actor_out": actor[2].weight.detach().numpy(), "critic": critic.weight.detach().numpy()}


@program(dtype="float64")
def vae_loss(torch, init):
    """An encoder's (mu, log_var), z = mu + eps * std (eps from NumPy), Bernoulli decoder likelihood and
    KL(q || N(0, I)) by kl_divergence."""
    nn = torch.nn
    D = torch.distributions
    encoder = init(nn.Linear(6, 4).double())
    decoder = init(nn.Linear(2, 6).double())
    opt = torch.optim.SGD(list(encoder.parameters()) + list(decoder.parameters()), lr=0.1)
    rng = np.random.default_rng(5)
    x = torch.tensor(rng.integers(0, 2, (5, 6)).astype(np.float64))
    eps = torch.tensor(rng.standard_normal((5, 2)))
    losses = []
    for _ in range(3):
        mu, log_var = encoder(x).chunk(2, dim=1)
        q = D.Normal(mu, (0.5 * log_var).exp())
        z = q.mean + eps * q.stddev
        likelihood = D.Bernoulli(logits=decoder(z)).log_prob(x).sum(1)
        kl = D.kl_divergence(q, D.Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1)
        loss = (kl - likelihood).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {"losses": losses, "encoder": encoder.weight.detach().numpy(),
            "decoder": decoder.weight.detach().numpy()}


@program(dtype="float64")
def gaussian_fit(torch, init):
    """Maximum likelihood of a 2-D Gaussian through a learned scale_tril, then KL to the data's Gaussian."""
    D = torch.distributions
    rng = np.random.default_rng(9)
    data = torch.tensor(rng.standard_normal((40, 2)) @ np.array([[1.0, 0.0], [0.8, 0.5]]) + [1.0, -2.0])
    loc = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    raw = torch.zeros(2, 2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([loc, raw], lr=0.1)
    losses = []
    for _ in range(5):
        scale_tril = raw.tril(-1) + torch.eye(2, dtype=torch.float64) * raw.exp()
        model = D.MultivariateNormal(loc, scale_tril=scale_tril)
        loss = -model.log_prob(data).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    empirical = D.MultivariateNormal(data.mean(0), covariance_matrix=torch.tensor(np.cov(data.numpy().T)))
    return {"losses": losses, "loc": loc.detach().numpy(), "entropy": model.entropy().item(),
            "kl": D.kl_divergence(model, empirical).item(), "cov": model.covariance_matrix.detach().numpy()}
