"""Request bodies of A1111's `/sdapi/v1` generation routes. The fields that are `Job` parameters are made from their
one declaration (pipelines/job.py): A1111's API defaults (which differ from the page's: 50 steps, Euler, masked content
fill, only masked with padding 0) and the valid bounds, visible in `/openapi.json`. The rest are A1111's own request
fields. Unknown fields are ignored, as A1111 ignores them."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from pydantic import BaseModel, ConfigDict, Field, create_model

from pipelines import Job, Param, declared

SAMPLER_INDEX_DEFAULT = "Euler"  # A1111's `sampler_index`, used when a request names no `sampler_name`


def api_type(param: Param) -> Any:
    kind = {list: List[str], dict: Dict[str, Any]}.get(param.type, param.type)
    kind = int if param.is_integer else kind
    return Optional[kind] if param.optional or param.api_value is None else kind


def api_field(param: Param) -> Tuple[Any, Any]:
    """(type, pydantic Field) of one declared parameter, with its API default, bounds and description."""
    description = param.label + (f": {param.help}" if param.help else "") + param.numbered_choices()
    low, high = param.bounds if param.is_number else (None, None)
    default = param.api_value
    default = int(default) if param.is_integer and default is not None else default
    if isinstance(default, (list, dict)):
        return api_type(param), Field(default_factory=lambda: type(default)(default), description=description)
    return api_type(param), Field(default=default, ge=low, le=high, description=description)


def declared_fields(scope: str) -> Dict[str, Tuple[Any, Any]]:
    return {name: api_field(param) for name, param in declared(Job).items() if param.api == scope}


class A1111Fields(BaseModel):
    """A1111's request fields that are not job parameters here: accepted for compatibility."""
    model_config = ConfigDict(extra="ignore")

    sampler_index: Optional[str] = SAMPLER_INDEX_DEFAULT
    override_settings_restore_afterwards: bool = True
    refiner_checkpoint: Optional[str] = None
    refiner_switch_at: Optional[float] = None
    disable_extra_networks: bool = False
    comments: Optional[Dict[str, Any]] = None
    force_task_id: Optional[str] = None
    script_name: Optional[str] = None
    script_args: List[Any] = Field(default_factory=list)
    send_images: bool = True
    save_images: bool = False
    alwayson_scripts: Dict[str, Any] = Field(default_factory=dict)


GenerationRequest = create_model("GenerationRequest", __base__=A1111Fields, **declared_fields("all"))
Img2ImgFields = create_model("Img2ImgFields", __base__=GenerationRequest, **declared_fields("img2img"))


class Img2ImgRequest(Img2ImgFields):
    init_images: Optional[List[str]] = None
    image_cfg_scale: Optional[float] = None
    mask: Optional[str] = None
    masks: Optional[List[str]] = Field(default=None, description="one mask per init image (beyond A1111)")
    latent_mask: Optional[str] = None
    include_init_images: bool = False


class Txt2ImgRequest(GenerationRequest):
    enable_hr: bool = False
    denoising_strength: Optional[float] = None
    firstpass_image: Optional[str] = None


class PngInfoRequest(BaseModel):
    image: str = ""


def job_params(request: BaseModel) -> Dict[str, Any]:
    """A request's Job parameters: each declared field it has, by name (None: the Job's default), and A1111's real
    renames: `sampler_index`, and `save_images` deciding whether samples and grids are saved."""
    scopes = ("all", "img2img") if isinstance(request, Img2ImgRequest) else ("all",)
    params = {}
    for name, param in declared(Job).items():
        if param.api in scopes:
            value = getattr(request, name)
            params[name] = param.default if value is None and not param.optional else value
    params["sampler_name"] = request.sampler_name or request.sampler_index or SAMPLER_INDEX_DEFAULT
    params.update(script_name=request.script_name, script_args=list(request.script_args),
                  alwayson_scripts=dict(request.alwayson_scripts))
    params["do_not_save_samples"] = params["do_not_save_grid"] = not request.save_images
    return params
