"""The PyTorch tutorial training loop, nearly verbatim: a custom Dataset of NumPy arrays, F.* calls,
x.view(-1, ...), torch.max(outputs.data, 1), running_loss bookkeeping, printed progress, top-k accuracy."""
import io

import numpy as np

from ._harness import program


@program()
def tutorial_classifier(torch, init):
    nn = torch.nn
    F = nn.functional
    Dataset, DataLoader = torch.utils.data.Dataset, torch.utils.data.DataLoader

    class BlobImages(Dataset):
        """4x6x6 'images' whose class sets which quadrant is bright; samples are NumPy arrays + int labels."""

        def __init__(self, n, seed, transform=None):
            rng = np.random.default_rng(seed)
            self.labels = rng.integers(0, 4, n)
            self.images = rng.standard_normal((n, 1, 6, 6)).astype(np.float32) * 0.5
            for img, c in zip(self.images, self.labels):
                img[0, (c // 2) * 3:(c // 2) * 3 + 3, (c % 2) * 3:(c % 2) * 3 + 3] += 1.0
            self.transform = transform

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, idx):
            image = self.images[idx]
            if self.transform:
                image = self.transform(image)
            return image, int(self.labels[idx])

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3)
            self.pool = nn.MaxPool2d(2, 2)
            self.fc1 = nn.Linear(4 * 2 * 2, 12)
            self.fc2 = nn.Linear(12, 4)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = x.view(-1, 4 * 2 * 2)
            x = F.relu(self.fc1(x))
            return self.fc2(x)

    def normalize(img):
        return (img - 0.5) / 0.5

    trainloader = DataLoader(BlobImages(24, 16, normalize), batch_size=6, shuffle=False)
    testloader = DataLoader(BlobImages(12, 17, normalize), batch_size=4, shuffle=False)
    net = init(Net())
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    log = io.StringIO()
    for epoch in range(2):
        running_loss = 0.0
        for i, data in enumerate(trainloader, 0):
            inputs, labels = data
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            if i % 2 == 1:
                print(f"[{epoch + 1}, {i + 1:5d}] loss: {running_loss / 2:.3f}", file=log)
                running_loss = 0.0

    correct = total = correct_top2 = 0
    with torch.no_grad():
        for images, labels in testloader:
            outputs = net(images)
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
            _, top2 = outputs.topk(2, 1, True, True)
            correct_top2 += top2.eq(labels.view(-1, 1).expand_as(top2)).sum().item()
    print(f"Accuracy of the network on the {total} test images: {100 * correct // total} %", file=log)
    batch = next(iter(trainloader))
    return {"log": log.getvalue().splitlines(), "correct": correct, "correct_top2": correct_top2,
            "batch_dtypes": [str(t.dtype).split(".")[-1] for t in batch],
            "params": {n: p.detach().numpy() for n, p in net.named_parameters()}}
