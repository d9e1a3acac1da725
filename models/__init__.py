"""HMDiff models: body models, synthetic world, prior, diffusion, training and evaluation."""
