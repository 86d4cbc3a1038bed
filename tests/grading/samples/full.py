# A student who wrote every exercise as the instructor's solution does.
# lesson: 05_cam_resnet18
# build: solutions
# expected: l05_all_class_cams_tests=1 l05_top_k_cam_tests=1 l05_cam_for_display_tests=2 l05_max_pool_tests=1 l05_shared_channel_tests=2 l05_dropped_channels_tests=1
