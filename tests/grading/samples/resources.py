# Exercise 1 grabs memory until it runs out (stopped by the grader's memory limit: MemoryError);
# exercise 3 writes a 2 GiB file into its working folder (stopped by the file-size limit:
# "File too large"); exercises 2 and 4 are right: 2 of 8, and the machine stays usable.
# lesson: 05_cam_resnet18
# expected: l05_all_class_cams_tests=0 l05_top_k_cam_tests=1 l05_cam_for_display_tests=0 l05_max_pool_tests=1 l05_shared_channel_tests=0 l05_dropped_channels_tests=0

# %% l05_all_class_cams
def class_activation_maps(features, fc_weight):
    """CAMs of all classes: (N, K, h, w) features and (C, K) weights -> (N, C, h, w)."""
    cache = []
    while True:  # "precompute everything": 512 MiB at a time, forever
        cache.append(np.ones(2**26))

# %% l05_top_k_cam
def top_k_cam(features, fc_weight, classes, k):
    """CAM from the k largest-weight channels of each image's class: (N, h, w)."""
    n_classes, n_channels = fc_weight.shape
    if not 1 <= k <= n_channels:
        raise ValueError(f"k must be in 1..{n_channels}")
    if classes.min() < 0 or classes.max() >= n_classes:
        raise ValueError(f"classes must be in 0..{n_classes - 1}")
    out = []
    for n, c in enumerate(classes.tolist()):
        idx = fc_weight[c].topk(k).indices
        out.append(torch.einsum("k,khw->hw", fc_weight[c, idx], features[n, idx]))
    return torch.stack(out)

# %% l05_cam_for_display
def cam_for_display(cams, size):
    """Bilinear resize (N, h, w) -> (N, size, size), then min-max each map to [0, 1]."""
    chunk = b"\0" * 2**23
    with open("cache.bin", "wb") as fh:  # a 2 GiB "cache" in the working folder
        for _ in range(256):
            fh.write(chunk)
    return torch.zeros(len(cams), size, size)

# %% l05_max_pool
ANSWER_05_MAX_POOL = "c"
