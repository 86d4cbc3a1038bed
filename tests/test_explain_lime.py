"""explain.explain_lime gives the explanation of the `lime` package (0.2.0.1) itself.

The reference is lime's own ``LimeImageExplainer(random_state).explain_instance`` with the
course's probability ``classifier_fn`` (:func:`explain.lime_classifier_fn`), on real photos
(scikit-image) and scenes, several sizes, numbers of samples and batch sizes, grey and colour
images, SLIC and a segmentation function of our own. With the same batch size the two must agree
to the last bit; with another batch size (the model's float32 rounding may then differ in the
last bits) to 1e-8, with the same ranking and the same mask.
"""
from unittest import mock

import numpy as np
import pytest
import torch
from lime import lime_image  # a lesson dependency: missing, it must fail, not skip
from skimage import data as skdata
from skimage.transform import resize
from torch import nn

from course_utils import explain as ex



# Tiny tensors: one thread (conftest.one_thread) avoids OpenMP spin-waiting on 2 cores.
pytestmark = pytest.mark.usefixtures("one_thread")


def small_cnn(in_channels=3, classes=5, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
        nn.Conv2d(6, 6, 3, padding=1, stride=2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, classes)).eval()


def photo(name, shape):
    """A real photo from scikit-image, resized to ``shape`` (H, W), float64 in [0, 1]."""
    image = getattr(skdata, name)()
    return resize(image, shape, anti_aliasing=True).clip(0, 1)


def grid_segments(image):
    """A segmentation function of our own: 4 x 4 pixel squares, numbered row by row."""
    rows, cols = np.indices(image.shape[:2])
    return (rows // 4) * ((image.shape[1] + 3) // 4) + cols // 4


def lime_reference(model, image, target, num_samples, random_state, segmentation_fn,
                   batch_size, grey=False):
    """lime's own explanation, the way lesson 07 calls it (tqdm silenced for this call only)."""
    preprocess = (lambda b: b[:, :1]) if grey else None
    classifier_fn = ex.lime_classifier_fn(model, batch_size=batch_size, preprocess=preprocess)
    labels, top_labels = ((), 1) if target is None else ((target,), None)
    with mock.patch.object(lime_image, "tqdm", lambda iterable, *args, **kwargs: iterable):
        explanation = lime_image.LimeImageExplainer(random_state=random_state).explain_instance(
            image, classifier_fn, labels=labels, top_labels=top_labels, hide_color=None,
            num_samples=num_samples, batch_size=batch_size, segmentation_fn=segmentation_fn,
            random_seed=random_state)
    label = explanation.top_labels[0] if target is None else target
    return explanation, label


def assert_same_explanation(result, explanation, label, exact):
    assert result.label == label
    ours, theirs = result.explanation, explanation
    assert np.array_equal(ours.segments, theirs.segments)
    assert np.array_equal(ours.image, theirs.image)
    features = [k for k, _ in ours.local_exp[label]]
    assert features == [k for k, _ in theirs.local_exp[label]]  # the same ranking
    w_ours = np.array([w for _, w in ours.local_exp[label]])
    w_theirs = np.array([w for _, w in theirs.local_exp[label]])
    if exact:
        assert np.array_equal(w_ours, w_theirs)
        assert ours.intercept[label] == theirs.intercept[label] and ours.score == theirs.score
        assert np.array_equal(ours.local_pred, theirs.local_pred)
    else:
        np.testing.assert_allclose(w_ours, w_theirs, rtol=0, atol=1e-8)
        assert ours.intercept[label] == pytest.approx(theirs.intercept[label], abs=1e-8)
    _, mask = theirs.get_image_and_mask(label, **ex.LIME_DISPLAY)
    assert np.array_equal(result.mask, mask)
    _, mask_pos = theirs.get_image_and_mask(label, positive_only=True, num_features=3,
                                            min_weight=0.0)
    _, ours_pos = result.image_and_mask(positive_only=True, num_features=3, min_weight=0.0)
    assert np.array_equal(ours_pos, mask_pos)


CASES = [
    # photo, size, target, num_samples, random_state, n_segments, batch size (ours, lime's)
    ("chelsea", (32, 32), 1, 100, 16, 20, (64, 64)),
    ("astronaut", (24, 40), None, 57, 0, 30, (10, 10)),
    ("coffee", (36, 20), 3, 2, 5, 12, (64, 64)),
    ("rocket", (28, 28), 0, 130, 7, 40, (64, 10)),   # other batching: to 1e-8
    ("chelsea", (32, 32), None, 64, 3, 25, (7, 64)),
]


@pytest.mark.parametrize("name, shape, target, num_samples, state, n_segments, batches", CASES)
def test_same_explanation_as_lime_on_colour_photos(name, shape, target, num_samples, state,
                                                   n_segments, batches):
    model, image = small_cnn(), photo(name, shape)
    ours_bs, lime_bs = batches
    result = ex.explain_lime(model, image, target, num_samples=num_samples, random_state=state,
                             n_segments=n_segments, batch_size=ours_bs)
    explanation, label = lime_reference(model, image, target, num_samples, state,
                                        ex.slic_segmenter(n_segments), lime_bs)
    assert_same_explanation(result, explanation, label, exact=ours_bs == lime_bs)


@pytest.mark.parametrize("channels_axis", [False, True])
def test_same_explanation_as_lime_on_a_grey_image(channels_axis):
    model = small_cnn(in_channels=1)
    grey = resize(skdata.camera(), (30, 26), anti_aliasing=True).clip(0, 1)
    given = grey[:, :, None] if channels_axis else grey
    result = ex.explain_lime(model, given, target=2, num_samples=80, random_state=4,
                             n_segments=15, batch_size=32)
    explanation, label = lime_reference(model, grey, 2, 80, 4, ex.slic_segmenter(15), 32, grey=True)
    assert result.explanation.image.shape == (30, 26, 3)  # LIME's image is RGB, as in lime
    assert_same_explanation(result, explanation, label, exact=True)


def test_same_explanation_as_lime_on_a_uint8_image():
    model = small_cnn()
    image = (photo("coffee", (24, 24)) * 255).round().astype(np.uint8)
    result = ex.explain_lime(model, image, 4, num_samples=50, random_state=1, n_segments=10)
    explanation, label = lime_reference(model, image / 255.0, 4, 50, 1, ex.slic_segmenter(10), 64)
    assert_same_explanation(result, explanation, label, exact=True)


def test_same_explanation_as_lime_with_a_segmentation_function_of_our_own():
    model = small_cnn()
    image = photo("astronaut", (20, 24))
    result = ex.explain_lime(model, image, 1, num_samples=90, random_state=2,
                             segmentation_fn=grid_segments, batch_size=25)
    explanation, label = lime_reference(model, image, 1, 90, 2, grid_segments, 25)
    assert_same_explanation(result, explanation, label, exact=True)
    assert np.array_equal(result.segments, grid_segments(image))
    assert result.weights.shape == (30,)
    assert dict(enumerate(result.weights)) == pytest.approx(dict(explanation.local_exp[1]))


def test_labels_that_are_not_0_to_d_minus_1_warn_and_still_match_lime():
    # labels 1..d, as skimage's slic gives by default: lime's bit 0 switches nothing off and
    # superpixel d never goes off; explain_lime does the same, and says so.
    def from_one(image):
        return grid_segments(image) + 1

    model, image = small_cnn(), photo("chelsea", (16, 16))
    with pytest.warns(UserWarning, match="never switched off"):
        result = ex.explain_lime(model, image, 0, num_samples=40, random_state=0,
                                 segmentation_fn=from_one)
    explanation, label = lime_reference(model, image, 0, 40, 0, from_one, 64)
    assert_same_explanation(result, explanation, label, exact=True)


def test_same_explanation_as_lime_with_the_lessons_model_and_a_real_scene():
    from course_utils import data, pretrained

    model, _ = pretrained.load_model("food11_classifier", tier="offline")
    images, _ = data.load_dataset("food11", "test", tier="offline").getbatch([21])
    image = images[0].permute(1, 2, 0).numpy().astype(np.float64)
    result = ex.explain_lime(model.eval(), image, None, num_samples=48, random_state=0)
    explanation, label = lime_reference(model, image, None, 48, 0, ex.slic_segmenter(100), 10)
    assert_same_explanation(result, explanation, label, exact=False)


def test_result_unpacks_like_the_earlier_tuple_and_lime_is_left_alone():
    tqdm_before = lime_image.tqdm
    model, image = small_cnn(), photo("coffee", (16, 16))
    result = ex.explain_lime(model, image, 2, num_samples=20, n_segments=6)
    explanation, (img, mask), label = result
    assert explanation is result.explanation and label == result.label == 2
    assert img is result.image and mask is result.mask
    assert np.array_equal(result.weights[result.segments].shape, result.segments.shape)
    assert lime_image.tqdm is tqdm_before  # no global patch, not even for the call


def test_preprocess_is_applied_to_every_batch():
    model, image = small_cnn(), photo("chelsea", (16, 16))
    mean = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)
    seen = []

    def normalise(batch):
        seen.append(batch.shape[0])
        return batch - mean

    result = ex.explain_lime(model, image, 1, num_samples=30, n_segments=8, batch_size=8,
                             preprocess=normalise)
    assert seen == [8, 8, 8, 6]
    classifier_fn = ex.lime_classifier_fn(model, batch_size=8, preprocess=lambda b: b - mean)
    with mock.patch.object(lime_image, "tqdm", lambda iterable, *args, **kwargs: iterable):
        explanation = lime_image.LimeImageExplainer(random_state=16).explain_instance(
            image, classifier_fn, labels=(1,), top_labels=None, num_samples=30, batch_size=8,
            segmentation_fn=ex.slic_segmenter(8), random_seed=16)
    assert_same_explanation(result, explanation, 1, exact=True)


@pytest.mark.parametrize("bad, error, message", [
    (dict(image=np.random.default_rng(0).random((12, 12, 3)) * 255), ValueError,
     r"must lie in \[0, 1\].*Divide a 0\.\.255 image by 255"),
    (dict(image=np.random.default_rng(0).random((3, 12, 12))), ValueError,
     r"looks channels-first \(C x H x W\).*transpose\(1, 2, 0\)"),
    (dict(image=np.random.default_rng(0).random((12, 12, 4))), ValueError,
     r"1 or 3 channels last"),
    (dict(image=np.random.default_rng(0).random((2, 12, 12, 3))), ValueError,
     r"one image at a time"),
    (dict(num_samples=0), ValueError, r"num_samples must be an int >= 2 .*got 0"),
    (dict(num_samples=1), ValueError, r"num_samples must be an int >= 2 .*got 1"),
    (dict(num_samples=10.0), ValueError, r"num_samples must be an int"),
    (dict(batch_size=0), ValueError, r"batch_size must be an int >= 1"),
    (dict(n_segments=10, segmentation_fn=grid_segments), ValueError,
     r"either n_segments .* or segmentation_fn"),
    (dict(segmentation_fn=lambda im: np.zeros(im.shape[:2])), ValueError,
     r"integer labels"),
    (dict(image=np.full((12, 12, 3), np.nan)), ValueError, r"NaN"),
    (dict(target=5), IndexError, r"valid targets are 0\.\.4"),
])
def test_bad_inputs_give_clear_errors(bad, error, message):
    kwargs = dict(image=np.random.default_rng(0).random((12, 12, 3)), target=1, num_samples=10)
    kwargs.update(bad)
    image, target = kwargs.pop("image"), kwargs.pop("target")
    with pytest.raises(error, match=message):
        ex.explain_lime(small_cnn(), image, target, **kwargs)
