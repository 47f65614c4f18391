//! The built-in layers under every configuration: the run's defaults and a stage 2's.

/// Built-in defaults: plain cross-entropy, the CIFAR-LT schedule (200 epochs, 5 warm-up, x0.1 at
/// 160 and 180), batch 128, SGD 0.1 / 0.9 / 2e-4.
pub const DEFAULTS: &str = r#"
dataset = ""
out = "runs/run"
model = ""
seed = 0
device = "auto"
threads = 0
loader_threads = 0
eval_every = 10
amp = "off"
channels_last = false
augment_on_device = "auto"
sync_every = 0
plugins = []
upper_top1 = 0.0
upper_from = []
dist_timeout = 0
init_checkpoint = ""
init_backbone = ""
eval_split = "test"
eval_splits = []
model_plugin = ""
model_plugin_config = {}

[stage1]
epochs = 200
batch_size = 128
lr = 0.1
momentum = 0.9
weight_decay = 2e-4
warmup_epochs = 5
schedule = "step"
milestones = [0.8, 0.9]
gamma = 0.1
sampler = "instance"
sampler_config = {}
sampler2 = ""
sampler2_config = {}
steps_per_epoch = 0
loss = "ce"
loss_config = {}
head = "linear"
head_config = {}
mixup_alpha = 0.0
backbone_lr_factor = 1.0
head_lr_factor = 1.0
param_lr_factors = {}
freeze_backbone = false
shift_bn = false
"#;

/// Defaults of a stage 2 when a recipe or an override asks for one: the decoupled
/// classifier-retraining setting (10 epochs, class-balanced, cosine, frozen backbone).
pub const STAGE2_DEFAULTS: &str = r#"
epochs = 10
batch_size = 128
lr = 0.1
momentum = 0.9
weight_decay = 2e-4
warmup_epochs = 0
schedule = "cosine-epoch"
milestones = []
gamma = 0.1
sampler = "class-balanced"
sampler_config = {}
sampler2 = ""
sampler2_config = {}
steps_per_epoch = 0
loss = "ce"
loss_config = {}
head = "linear"
head_config = {}
mixup_alpha = 0.0
backbone_lr_factor = 0.0
head_lr_factor = 1.0
param_lr_factors = {}
freeze_backbone = true
shift_bn = false
"#;
