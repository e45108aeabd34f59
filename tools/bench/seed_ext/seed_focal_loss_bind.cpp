// Python bindings for the seed's sigmoid focal loss kernels (seed_focal_loss.cu).
// Built at run time by tools/bench/torch_focal.py with torch.utils.cpp_extension.
#include <torch/extension.h>

at::Tensor seed_focal_loss_forward(const at::Tensor &logits, const at::Tensor &targets,
                                   int64_t num_classes, double gamma, double alpha);
at::Tensor seed_focal_loss_backward(const at::Tensor &logits, const at::Tensor &targets,
                                    const at::Tensor &d_losses, int64_t num_classes,
                                    double gamma, double alpha);

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "The seed's SigmoidFocalLoss CUDA kernels (targets: 0 background, 1..C foreground)";
  m.def("forward", &seed_focal_loss_forward, "losses [N, C] = seed forward kernel",
        py::arg("logits"), py::arg("targets"), py::arg("num_classes"), py::arg("gamma"),
        py::arg("alpha"));
  m.def("backward", &seed_focal_loss_backward,
        "d_logits [N, C] = seed backward kernel (d_losses elementwise [N, C])",
        py::arg("logits"), py::arg("targets"), py::arg("d_losses"), py::arg("num_classes"),
        py::arg("gamma"), py::arg("alpha"));
}
