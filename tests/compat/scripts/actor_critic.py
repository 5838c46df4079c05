"""The actor-critic of PyTorch's official reinforcement-learning examples (Categorical policy, value head,
smooth L1 critic loss, discounted normalised returns), on a small corridor environment written here
(gym is not needed). Unmodified PyTorch program."""
import argparse
import json
from collections import namedtuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.distributions import Categorical

SavedAction = namedtuple("SavedAction", ["log_prob", "value"])


class Corridor:
    """Walk right from cell 0 to cell 5 within 20 steps; reward 1 at the goal, -0.01 a step."""

    def __init__(self, rng):
        self.rng, self.length = rng, 6

    def reset(self):
        self.pos, self.t = 0, 0
        return self._obs()

    def _obs(self):
        obs = np.zeros(self.length, dtype=np.float32)
        obs[self.pos] = 1
        return obs

    def step(self, action):
        self.pos = max(0, min(self.length - 1, self.pos + (1 if action == 1 else -1)))
        self.t += 1
        done = self.pos == self.length - 1 or self.t >= 20
        return self._obs(), (1.0 if self.pos == self.length - 1 else -0.01), done


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.affine1 = nn.Linear(6, 32)
        self.action_head = nn.Linear(32, 2)
        self.value_head = nn.Linear(32, 1)
        self.saved_actions, self.rewards = [], []

    def forward(self, x):
        x = F.relu(self.affine1(x))
        return F.softmax(self.action_head(x), dim=-1), self.value_head(x)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--seed", type=int, default=543)
    parser.add_argument("--episodes", type=int, default=60)
    parser.add_argument("--log")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    env = Corridor(np.random.default_rng(args.seed))
    model = Policy()
    optimizer = optim.Adam(model.parameters(), lr=3e-2)
    eps = np.finfo(np.float32).eps.item()

    lengths, losses = [], []
    for episode in range(args.episodes):
        state, done = env.reset(), False
        while not done:
            probs, state_value = model(torch.from_numpy(state).float())
            m = Categorical(probs)
            action = m.sample()
            model.saved_actions.append(SavedAction(m.log_prob(action), state_value))
            state, reward, done = env.step(action.item())
            model.rewards.append(reward)
        R, returns = 0, []
        for r in model.rewards[::-1]:
            R = r + args.gamma * R
            returns.insert(0, R)
        returns = torch.tensor(returns)
        returns = (returns - returns.mean()) / (returns.std() + eps) if len(returns) > 1 else returns
        policy_losses, value_losses = [], []
        for (log_prob, value), R in zip(model.saved_actions, returns):
            advantage = R - value.item()
            policy_losses.append(-log_prob * advantage)
            value_losses.append(F.smooth_l1_loss(value, torch.tensor([R])))
        optimizer.zero_grad()
        loss = torch.stack(policy_losses).sum() + torch.stack(value_losses).sum()
        loss.backward()
        optimizer.step()
        lengths.append(len(model.rewards))
        losses.append(loss.item())
        del model.rewards[:], model.saved_actions[:]
    print(f"episode lengths: first 10 {np.mean(lengths[:10]):.1f}, last 10 {np.mean(lengths[-10:]):.1f}")
    if args.log:
        with open(args.log, "w") as f:
            json.dump({"lengths": lengths, "losses": losses}, f)


if __name__ == "__main__":
    main()
