"""PSNR, SSIM and LPIPS against scikit-image and torchmetrics (independent implementations)."""

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from videocomposer.metrics import Lpips, frame_psnr, frame_ssim, psnr, ssim


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 256, (3, 24, 40, 3), dtype=np.uint8)
    noisy = np.clip(reference + rng.normal(0, 20, reference.shape), 0, 255).astype(np.uint8)
    return noisy, reference


def test_psnr_matches_scikit_image_and_counts_only_the_mask(pair):
    noisy, reference = pair
    expected = [peak_signal_noise_ratio(r, n, data_range=255) for n, r in zip(noisy, reference)]
    np.testing.assert_allclose(frame_psnr(noisy, reference), expected, rtol=1e-7, atol=1e-6)  # float32 [0, 1] inputs
    assert psnr(noisy, reference) == pytest.approx(np.mean(expected), rel=1e-7, abs=1e-6)
    assert psnr(noisy.astype(np.float32) / 255, reference) == pytest.approx(np.mean(expected), rel=1e-5)
    mask = np.zeros((24, 40), bool)
    mask[5:15, 10:30] = True
    inside = [((n[mask] / 255.0 - r[mask] / 255.0) ** 2).mean() for n, r in zip(noisy, reference)]
    np.testing.assert_allclose(frame_psnr(noisy, reference, mask), -10 * np.log10(inside), rtol=1e-7, atol=1e-6)
    per_frame = np.broadcast_to(mask, (3, 24, 40)).copy()
    per_frame[1] = ~mask
    assert frame_psnr(noisy, reference, per_frame)[1] != frame_psnr(noisy, reference, mask)[1]
    assert psnr(reference, reference) == np.inf
    with pytest.raises(TypeError, match="mask: expected a bool array"):
        psnr(noisy, reference, mask.astype(np.uint8))
    with pytest.raises(ValueError, match="mask: expected"):
        psnr(noisy, reference, mask[:10])
    with pytest.raises(ValueError, match="no masked pixel"):
        psnr(noisy, reference, np.zeros((24, 40), bool))
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(noisy, reference[:2])


def test_ssim_matches_scikit_image_and_torchmetrics(pair):
    from torchmetrics.functional.image import structural_similarity_index_measure

    noisy, reference = pair
    expected = [
        structural_similarity(n, r, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                              channel_axis=-1, data_range=255)
        for n, r in zip(noisy, reference)
    ]  # fmt: skip
    np.testing.assert_allclose(frame_ssim(noisy, reference), expected, rtol=1e-7, atol=1e-9)
    to_torch = lambda x: torch.from_numpy(x).permute(0, 3, 1, 2).double() / 255  # noqa: E731
    _, full_map = structural_similarity_index_measure(
        to_torch(noisy), to_torch(reference), gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=1.0,
        return_full_image=True,
    )  # fmt: skip
    # torchmetrics averages the whole reflect-padded map; Wang et al. / skimage only where the window fits
    inside = full_map[..., 5:-5, 5:-5].mean(dim=(1, 2, 3)).numpy()
    np.testing.assert_allclose(frame_ssim(noisy, reference), inside, rtol=1e-7, atol=1e-9)
    assert ssim(reference, reference) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="sides of at least 11"):
        ssim(noisy[:, :10], reference[:, :10])


def test_lpips_matches_torchmetrics_with_the_same_random_weights(pair, tmp_path):
    from torchmetrics.functional.image.lpips import _LPIPS
    from torchvision.models import alexnet

    torch.manual_seed(0)
    backbone = alexnet(weights=None)
    reference_net = _LPIPS(pretrained=False, net="alex", pnet_rand=True, use_dropout=False).eval()
    reference_net.net.load_state_dict(  # the same backbone, split into torchmetrics' five slices
        {f"slice{s}.{i}.{p}": backbone.features[i].state_dict()[p] for s, idx in
         enumerate([(0,), (3,), (6,), (8,), (10,)], 1) for i in idx for p in ("weight", "bias")}
    )  # fmt: skip
    linear = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate((64, 192, 384, 256, 256))}
    for k, lin in enumerate(reference_net.lins):
        lin.model[0].weight.data.copy_(linear[f"lin{k}.model.1.weight"])
    torch.save(linear, tmp_path / "alex.pth")
    torch.save(backbone.state_dict(), tmp_path / "alexnet.pth")
    lpips = Lpips.load(tmp_path / "alex.pth", tmp_path / "alexnet.pth")
    # AlexNet's pooling needs frames of at least ~64 px: the 24x40 frames padded with black
    noisy, reference = (np.pad(x, ((0, 0), (20, 20), (12, 12), (0, 0))) for x in pair)
    got = lpips(noisy, reference)
    to_torch = lambda x: torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    with torch.no_grad():
        expected = reference_net(to_torch(noisy), to_torch(reference), normalize=True).flatten().double().numpy()
    assert got.shape == (3,) and (got > 0).all()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)  # float32 nets; eps 1e-10 vs 1e-8 in the norm
    np.testing.assert_allclose(lpips(reference, reference), 0.0, atol=1e-7)
    with pytest.raises(ValueError, match="lacks the keys"):
        torch.save({"w": torch.zeros(1)}, tmp_path / "bad.pth")
        Lpips.load(tmp_path / "bad.pth", tmp_path / "alexnet.pth")
    with pytest.raises(FileNotFoundError, match="lpips backbone: no such file"):
        Lpips.load(tmp_path / "alex.pth", tmp_path / "missing.pth")
