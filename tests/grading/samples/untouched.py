# The student release handed back as it was given: every stub still raises NotImplementedError.
# lesson: 05_cam_resnet18
# build: release
# expected: l05_all_class_cams_tests=0 l05_top_k_cam_tests=0 l05_cam_for_display_tests=0 l05_max_pool_tests=0 l05_shared_channel_tests=0 l05_dropped_channels_tests=0
