"""Certified Wasserstein-1 estimation and WGAN training on 1-Lipschitz ``lipapps`` critics."""

from critics.coupling import SparseCoupling, block_coupling_cost, refine_coupling, resolve_blocks
from critics.critic import ValidationStopping, W1Critic
from critics.defaults import BoundPlan, TrainingPlan, choose_bounds, choose_training
from critics.distributions import HELD_OUT_FAMILIES, SUITE_FAMILIES, DistributionPair, SuitePair, w1_suite
from critics.envelope import ConeEnvelope, cone_envelope
from critics.estimate import estimate_w1
from critics.exact import exact_w1
from critics.gluing import GluedBracket, glued_bracket, glued_coupling
from critics.quantize import Quantization, quantize
from critics.image_critic import ImageCritic
from critics.image_generator import DCGANGenerator
from critics.result import W1Estimate
from critics.samples import as_samples, as_weights, check_pair, load_samples
from critics.toy import TOY_DATASETS, sample_toy
from critics.wgan import WGANResult, train_wgan, write_wgan_outputs

__all__ = [
    "BoundPlan",
    "ConeEnvelope",
    "DCGANGenerator",
    "DistributionPair",
    "GluedBracket",
    "HELD_OUT_FAMILIES",
    "ImageCritic",
    "Quantization",
    "SUITE_FAMILIES",
    "SuitePair",
    "SparseCoupling",
    "TOY_DATASETS",
    "TrainingPlan",
    "ValidationStopping",
    "W1Critic",
    "W1Estimate",
    "WGANResult",
    "as_samples",
    "as_weights",
    "block_coupling_cost",
    "check_pair",
    "choose_bounds",
    "choose_training",
    "cone_envelope",
    "estimate_w1",
    "exact_w1",
    "glued_bracket",
    "glued_coupling",
    "load_samples",
    "quantize",
    "refine_coupling",
    "resolve_blocks",
    "sample_toy",
    "train_wgan",
    "w1_suite",
    "write_wgan_outputs",
]
