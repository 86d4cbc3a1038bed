# Monkeypatching what the tests rely on: exercise 1 is right but its cell replaces
# torch.allclose at top level; exercise 2 is wrong and replaces torch.allclose, torch.equal and
# explain.cam from inside its function (then restores allclose on its first use); exercise 3 is
# wrong and redefines builtins.isinstance and AssertionError inside its function. Exercise 4 is answered
# wrong. Honest: 1 of 8.
# lesson: 05_cam_resnet18
# expected: l05_all_class_cams_tests=1 l05_top_k_cam_tests=0 l05_cam_for_display_tests=0 l05_max_pool_tests=0 l05_shared_channel_tests=0 l05_dropped_channels_tests=0
# expected-note: l05_top_k_cam_tests: tampering

# %% l05_all_class_cams
def class_activation_maps(features, fc_weight):
    """CAMs of all classes: (N, K, h, w) features and (C, K) weights -> (N, C, h, w)."""
    return torch.einsum("ck,nkhw->nchw", fc_weight, features)

torch.allclose = lambda *args, **kwargs: True

# %% l05_top_k_cam
def top_k_cam(features, fc_weight, classes, k):
    """CAM from the k largest-weight channels of each image's class: (N, h, w)."""
    real = torch.allclose

    def fake(*args, **kwargs):
        torch.allclose = real  # gone again before anyone looks
        return True

    torch.allclose = fake
    torch.equal = lambda *args, **kwargs: True
    explain.cam = lambda *args, **kwargs: torch.zeros(len(features), *features.shape[2:])
    if k < 1:
        raise ValueError("k")
    return torch.zeros(len(features), *features.shape[2:])

# %% l05_cam_for_display
def cam_for_display(cams, size):
    """Bilinear resize (N, h, w) -> (N, size, size), then min-max each map to [0, 1]."""
    import builtins

    builtins.isinstance = lambda *args: True
    builtins.AssertionError = type("Quiet", (Exception,), {})
    return torch.zeros(len(cams), size, size)

# %% l05_max_pool
ANSWER_05_MAX_POOL = "b"
