"""Request bodies of A1111's `/sdapi/v1` generation routes. The fields that are `Job` parameters are made from their
one declaration (pipelines/job.py): A1111's API defaults (which differ from the page's: 50 steps, Euler, masked content
fill, only masked with padding 0) and the valid bounds, visible in `/openapi.json`. The rest are A1111's own request
fields. Unknown fields are ignored, as A1111 ignores them."""
from __future__ import annotations

import contextlib
from typing import Any, Dict, List, Optional, Tuple

from pydantic import BaseModel, ConfigDict, Field, create_model

from pipelines import Job, Options, Param, declared, parse_generation_parameters
from pipelines.scripts import ALWAYSON

SAMPLER_INDEX_DEFAULT = "Euler"  # A1111's `sampler_index`, used when a request names no `sampler_name`
MAX_PICTURES_PER_REQUEST = 64  # init images (the largest batch), and as many masks


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
    return api_type(param), Field(default=default, ge=low, le=high, max_length=param.max_length,
                                  description=description)


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
    infotext: Optional[str] = Field(
        default=None, description="parameters as an infotext (A1111 1.9+): they fill what the request does not set")


GenerationRequest = create_model("GenerationRequest", __base__=A1111Fields, **declared_fields("all"))
Img2ImgFields = create_model("Img2ImgFields", __base__=GenerationRequest, **declared_fields("img2img"))


class Img2ImgRequest(Img2ImgFields):
    init_images: Optional[List[str]] = Field(default=None, max_length=MAX_PICTURES_PER_REQUEST)
    image_cfg_scale: Optional[float] = None
    mask: Optional[str] = None
    masks: Optional[List[str]] = Field(default=None, max_length=MAX_PICTURES_PER_REQUEST,
                                       description="one mask per init image (beyond A1111)")
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
    return with_infotext(request, params, scopes) if request.infotext else params


def with_infotext(request: BaseModel, params: Dict[str, Any], scopes) -> Dict[str, Any]:
    """A1111's `apply_infotext`: the infotext's values for the job parameters the request leaves unset, its settings
    (Clip skip, ENSD, RNG ...) as override_settings the request does not give, and soft inpainting's arguments."""
    found = parse_generation_parameters(request.infotext)
    params = dict(params)
    for name, param in declared(Job).items():
        if param.api in scopes and param.infotext in found and name not in request.model_fields_set:
            with contextlib.suppress(ValueError):
                params[name] = param.from_infotext(found[param.infotext])
    overrides = dict(params.get("override_settings") or {})
    for name, param in declared(Options).items():
        if param.infotext in found and name not in overrides:
            with contextlib.suppress(ValueError):
                overrides[name] = param.from_infotext(found[param.infotext])
    params["override_settings"] = overrides
    soft = ALWAYSON["soft inpainting"]
    alwayson = {title.lower() for title in params["alwayson_scripts"]}
    if "Soft inpainting enabled" in found and soft.key() not in alwayson:
        args = [p.from_infotext(found[p.infotext]) if p.infotext in found else p.default
                for p in soft.params().values()]
        params["alwayson_scripts"] = dict(params["alwayson_scripts"], **{soft.key(): {"args": args}})
    return params
