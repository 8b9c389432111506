"""Network blocks, the 3D U-Net, losses, optimizers and schedules, built from a registry."""
