# The attack: exercise 1 is right, and its cell adds an IPython input transformer that
# turns every later cell (the locked test cells included) into `pass`; exercises 2, 3 and 4 are the
# untouched stubs. Honest score: 1 of 8 (graded outside IPython, from definitions only).
# lesson: 05_cam_resnet18
# expected: l05_all_class_cams_tests=1 l05_top_k_cam_tests=0 l05_cam_for_display_tests=0 l05_max_pool_tests=0 l05_shared_channel_tests=0 l05_dropped_channels_tests=0
# expected-note: review by hand: l05_all_class_cams touches IPython

# %% l05_all_class_cams
def class_activation_maps(features, fc_weight):
    """CAMs of all classes: (N, K, h, w) features and (C, K) weights -> (N, C, h, w)."""
    return torch.einsum("ck,nkhw->nchw", fc_weight, features)

get_ipython().input_transformers_post.append(lambda lines: ["pass\n"])
