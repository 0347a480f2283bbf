"""The torch front end: :func:`genrevae.features.kernels.frontend.front_numpy` on a torch device.

``features.device=cuda`` runs the heavy part of every segment's features here, on the GPU;
``torch-cpu`` runs it on the CPU (tests compare it with the numpy path there).
"""

from __future__ import annotations

import numpy as np
import torch

from genrevae.features.kernels.banks import Setup
from genrevae.features.kernels.chroma import chroma_banks
from genrevae.features.kernels.frontend import Front
from genrevae.features.kernels.hpss import HPSS_KERNEL
from genrevae.features.kernels.spectral import ROLL_PERCENT, rms_zcr, spectral_shape


def front_torch(y: np.ndarray, st: Setup, device: str) -> Front:
    """:func:`front_numpy` with torch on ``device`` (a GPU, or the CPU for testing).

    The same quantities in the same precision: the STFT in float64 rounded to complex64,
    exact medians (unfold + median). Differences from the numpy path are float rounding
    (the FFT, the mel and chroma products and the inverse STFT are torch's). The
    quantities that jump with the last bit of the magnitudes (chroma tuning, roll-off),
    RMS and the zero-crossing rate are computed on the CPU, from the device's STFT.
    """
    dev = torch.device(device)
    nb, n = y.shape
    nfft, hop, k = st.n_fft, st.hop, HPSS_KERNEL
    yt = torch.from_numpy(y).to(dev)
    pad = nfft // 2
    padded = torch.nn.functional.pad(yt[:, None, :], (pad, pad), mode="reflect")[:, 0]
    window = torch.from_numpy(st.window).to(dev)
    spec = torch.fft.rfft(padded.unfold(-1, nfft, hop).double() * window, dim=-1)
    spec = spec.to(torch.complex64)  # (B, T, F)
    _, nt, nf = spec.shape
    mag = spec.abs()
    power = mag * mag

    mel = (power.double() @ torch.from_numpy(st.mel_t).to(dev).double()).float()
    log_mel = 10.0 * torch.log10(torch.clamp(mel, min=1e-10))
    floor = log_mel.amax(dim=(1, 2), keepdim=True) - 80.0
    log_mel = torch.maximum(log_mel, floor).transpose(1, 2).contiguous()  # (B, n_mels, T)

    # Tuning (piptrack peaks feed a histogram) and roll-off (a threshold on a float32
    # running sum) jump with the last bit of the magnitudes, so they are computed on the
    # CPU from numpy's |STFT|, exactly as the numpy path does; the rest stays here.
    mag_np = np.abs(spec.cpu().numpy())
    banks = chroma_banks(mag_np * mag_np, st)
    shape = np.empty((3, nb, nt))
    spectral_shape(mag_np, st.freqs, ROLL_PERCENT, shape)
    del mag_np
    raw = torch.from_numpy(banks).to(dev).double() @ power.transpose(1, 2).double()  # (B, 12, T)
    peak_c = raw.amax(dim=1, keepdim=True)
    chroma = (raw / torch.where(peak_c < np.finfo(np.float32).tiny, 1.0, peak_c)).float()

    def reflect_index(size: int) -> torch.Tensor:
        j = torch.arange(-(k // 2), size + k // 2, device=dev) % (2 * size)
        return torch.where(j >= size, 2 * size - 1 - j, j)

    harm = torch.empty_like(mag)
    perc = torch.empty_like(mag)
    step = max(1, (1 << 28) // (nt * nf * k * 4))  # keep the unfolded windows under 256 MB
    for s in range(0, nb, step):
        block = mag[s : s + step]
        harm[s : s + step] = block[:, reflect_index(nt)].unfold(1, k, 1).median(dim=-1).values
        perc[s : s + step] = block[..., reflect_index(nf)].unfold(2, k, 1).median(dim=-1).values
    tiny = np.finfo(np.float32).tiny
    z = torch.maximum(harm, perc)
    ok = z >= tiny
    zs = torch.where(ok, z, torch.ones_like(z))
    a_, c_ = (harm / zs) ** 2, (perc / zs) ** 2
    mask = torch.where(ok, a_ / (a_ + c_), torch.full_like(z, 0.5))
    y_harm = torch.istft((spec * mask).transpose(1, 2), n_fft=nfft, hop_length=hop,
                         window=torch.from_numpy(st.window32).to(dev), center=True, length=n)
    y_perc = yt - y_harm

    def stats(x: torch.Tensor) -> np.ndarray:
        x = x.double()
        return torch.stack([x.mean(dim=1), x.var(dim=1, correction=0)], dim=1).cpu().numpy()

    wave = np.empty((2, nb, nt))
    rms_zcr(y, nfft, hop, wave)
    return Front(log_mel=log_mel.cpu().numpy(), chroma=chroma.cpu().numpy(), rms=wave[0],
                 centroid=shape[0], bandwidth=shape[1], rolloff=shape[2], zcr=wave[1],
                 harmonic=stats(y_harm), percussive=stats(y_perc))
