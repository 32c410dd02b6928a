"""Certified Wasserstein-1 estimation and WGAN training on 1-Lipschitz ``lipapps`` critics."""

from critics.coupling import block_coupling_cost
from critics.critic import W1Critic
from critics.defaults import TrainingPlan, choose_training
from critics.envelope import ConeEnvelope, cone_envelope
from critics.estimate import estimate_w1
from critics.exact import exact_w1
from critics.image_critic import ImageCritic
from critics.image_generator import DCGANGenerator
from critics.result import W1Estimate
from critics.samples import as_samples, as_weights, check_pair, load_samples
from critics.toy import TOY_DATASETS, sample_toy
from critics.wgan import WGANResult, train_wgan, write_wgan_outputs

__all__ = [
    "ConeEnvelope",
    "DCGANGenerator",
    "ImageCritic",
    "TOY_DATASETS",
    "TrainingPlan",
    "W1Critic",
    "W1Estimate",
    "WGANResult",
    "as_samples",
    "as_weights",
    "block_coupling_cost",
    "check_pair",
    "choose_training",
    "cone_envelope",
    "estimate_w1",
    "exact_w1",
    "load_samples",
    "sample_toy",
    "train_wgan",
    "write_wgan_outputs",
]
