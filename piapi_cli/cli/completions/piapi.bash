# bash completion for piapi, generated from its command tree: do not edit.
# Install: source this file, or copy it to ~/.local/share/bash-completion/completions/piapi

_piapi_models='Qubico/flux1-schnell Qubico/flux1-dev Qubico/flux1-dev-advanced midjourney Qubico/image-toolkit gemini Qubico/qwen-image Qubico/z-image seedream Qubico/joycaption kling kling-turbo hailuo luma veo3 veo3.1 sora2 seedance Qubico/hunyuan Qubico/wanx Qubico/skyreels Qubico/video-toolkit Wan Qubico/framepack omni-human Qubico/hug-video music-u Qubico/ace-step Qubico/diffrhythm Qubico/mmaudio Qubico/tts suno music-s byteaudio Qubico/trellis Qubico/trellis2 Qubico/pixal3d'

_piapi_task_types() {
    case "$1" in
        'Qubico/flux1-schnell') echo 'txt2img img2img' ;;
        'Qubico/flux1-dev') echo 'txt2img img2img' ;;
        'Qubico/flux1-dev-advanced') echo 'txt2img img2img txt2img-lora img2img-lora controlnet-lora fill-inpaint fill-outpaint redux-variation kontext' ;;
        'midjourney') echo 'imagine upscale variation describe reroll seed blend inpaint outpaint pan' ;;
        'Qubico/image-toolkit') echo 'background-remove upscale segment face-swap multi-face-swap' ;;
        'gemini') echo 'gemini-2.5-flash-image nano-banana-pro nano-banana-2' ;;
        'Qubico/qwen-image') echo 'txt2img image-edit' ;;
        'Qubico/z-image') echo 'txt2img' ;;
        'seedream') echo 'seedream-5-lite seedream-5-pro seedream-5-lite-less-restriction seedream-5-pro-less-restriction' ;;
        'Qubico/joycaption') echo 'joycaption-beta-one' ;;
        'kling') echo 'video_generation extend_video lip_sync effects omni_video_generation ai_try_on sound avatar motion_control' ;;
        'kling-turbo') echo 'video_generation' ;;
        'hailuo') echo 'video_generation' ;;
        'luma') echo 'video_generation extend_video' ;;
        'veo3') echo 'veo3-video veo3-video-fast' ;;
        'veo3.1') echo 'veo3.1-video veo3.1-video-fast' ;;
        'sora2') echo 'sora2-video sora2-pro-video remove-watermark' ;;
        'seedance') echo 'seedance-2 seedance-2-preview seedance-2-fast seedance-2-mini seedance-2-less-restriction seedance-2-fast-less-restriction seedance-2-mini-less-restriction seedance-2.5 seedance-2.5-less-restriction remove-watermark' ;;
        'Qubico/hunyuan') echo 'txt2video fast-txt2video img2video-concat img2video-replace txt2video-lora img2video-lora' ;;
        'Qubico/wanx') echo 'txt2video-1.3b txt2video-14b img2video-14b txt2video-14b-lora img2video-14b-lora img2video-14b-keyframe img2video-14b-control-camera wan22-txt2video-14b wan22-img2video-14b' ;;
        'Qubico/skyreels') echo 'img2video' ;;
        'Qubico/video-toolkit') echo 'face-swap upscale background-remove' ;;
        'Wan') echo 'wan26-txt2video wan26-img2video' ;;
        'Qubico/framepack') echo 'img2video' ;;
        'omni-human') echo 'omni-human-1.5' ;;
        'Qubico/hug-video') echo 'image_to_video' ;;
        'music-u') echo 'generate_music generate_lyrics' ;;
        'Qubico/ace-step') echo 'txt2audio audio2audio edit extend' ;;
        'Qubico/diffrhythm') echo 'txt2audio-base txt2audio-full' ;;
        'Qubico/mmaudio') echo 'video2audio' ;;
        'Qubico/tts') echo 'zero-shot' ;;
        'suno') echo 'generate_music' ;;
        'music-s') echo 'generate_music' ;;
        'byteaudio') echo 'seed-audio-1.0' ;;
        'Qubico/trellis') echo 'image-to-3d text-to-3d' ;;
        'Qubico/trellis2') echo 'image-to-3d' ;;
        'Qubico/pixal3d') echo 'image-to-3d' ;;
        *) echo 'ai_try_on audio2audio avatar background-remove blend controlnet-lora describe edit effects extend extend_video face-swap fast-txt2video fill-inpaint fill-outpaint gemini-2.5-flash-image generate_lyrics generate_music image-edit image-to-3d image_to_video imagine img2img img2img-lora img2video img2video-14b img2video-14b-control-camera img2video-14b-keyframe img2video-14b-lora img2video-concat img2video-lora img2video-replace inpaint joycaption-beta-one kontext lip_sync motion_control multi-face-swap nano-banana-2 nano-banana-pro omni-human-1.5 omni_video_generation outpaint pan redux-variation remove-watermark reroll seed seed-audio-1.0 seedance-2 seedance-2-fast seedance-2-fast-less-restriction seedance-2-less-restriction seedance-2-mini seedance-2-mini-less-restriction seedance-2-preview seedance-2.5 seedance-2.5-less-restriction seedream-5-lite seedream-5-lite-less-restriction seedream-5-pro seedream-5-pro-less-restriction segment sora2-pro-video sora2-video sound text-to-3d txt2audio txt2audio-base txt2audio-full txt2img txt2img-lora txt2video txt2video-1.3b txt2video-14b txt2video-14b-lora txt2video-lora upscale variation veo3-video veo3-video-fast veo3.1-video veo3.1-video-fast video2audio video_generation wan22-img2video-14b wan22-txt2video-14b wan26-img2video wan26-txt2video zero-shot' ;;
    esac
}

_piapi_options() {
    case "$1" in
        '') echo '--base-url --debug --help --no-color --no-journal --profile --sandbox --version' ;;
        'create') echo '--download --dry-run --from --help --inline --input --input-file --interval --jq --json --metadata --model --name --no-validate --overwrite --quiet --service-mode --skip-existing --task-type --timeout --wait --webhook --webhook-secret' ;;
        'get') echo '--help --jq --json' ;;
        'wait') echo '--download --help --interval --jq --json --metadata --name --overwrite --pending --quiet --skip-existing --timeout' ;;
        'cancel') echo '--help' ;;
        'download') echo '--dir --help --jq --json --metadata --name --overwrite --quiet --skip-existing' ;;
        'report') echo '--batch --compare-by --help --jq --json --model --no-thumbnails --open --out --since --status' ;;
        'compare') echo '--download --dry-run --help --input --interval --json --model --no-validate --quiet --report --run-id --timeout' ;;
        'account') echo '--help --jq --json' ;;
        'models') echo '--category --help --json --task-type' ;;
        'listen') echo '--backstop --download --events --exec --forward-to --help --host --path --port --print-secret --public-url --quiet --replay --secret --secret-file' ;;
        'trigger') echo '--dry-run --from-task --help --model --secret --secret-file --status --task-type' ;;
        'completion') echo '--help' ;;
        'batch') echo '--help' ;;
        'batch run') echo '--attach --concurrency --download --dry-run --force --help --inline --input --interval --json --matrix --max-credits --metadata --model --name --no-validate --output --overwrite --quiet --resubmit-unknown --retry-failed --run-id --shard --skip-existing --task-type --template --template-field --timeout --webhook --webhook-secret' ;;
        'batch status') echo '--help --jq --json' ;;
        'batch list') echo '--all --help --jq --json' ;;
        'tasks') echo '--help --jq --json --limit --model --remote --since --status --world' ;;
        'tasks sync') echo '--help --json --model --since' ;;
        'tasks show') echo '--help --jq --json' ;;
        'tasks usage') echo '--by --help --jq --json --since --world' ;;
        'config') echo '--help' ;;
        'config set-key') echo '--help' ;;
        'config show') echo '--help --json' ;;
        'config path') echo '--help' ;;
        'config set') echo '--help' ;;
        'config unset') echo '--help' ;;
        'sandbox') echo '--help' ;;
        'sandbox serve') echo '--api-key --concurrency --drop-rate --fail-rate --help --host --latency --max-body --no-webhooks --port --quiet --rate-limit-rate --speed --timeout --truncate-downloads' ;;
    esac
}

_piapi_subcommands() {
    case "$1" in
        '') echo 'create get wait cancel download report compare account models listen trigger completion batch tasks config sandbox' ;;
        'batch') echo 'run status list' ;;
        'tasks') echo 'sync show usage' ;;
        'config') echo 'set-key show path set unset' ;;
        'sandbox') echo 'serve' ;;
    esac
}

_piapi() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="" path="" model="" i w subs
    [ "$COMP_CWORD" -gt 0 ] && prev="${COMP_WORDS[COMP_CWORD-1]}"
    COMPREPLY=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        case "$w" in
            --model|-m) model="${COMP_WORDS[i+1]}"; i=$((i + 1)); continue ;;
            --api-key|--attach|--backstop|--base-url|--batch|--by|--category|--compare-by|--concurrency|--dir|--download|--drop-rate|--events|--exec|--fail-rate|--forward-to|--from|--from-task|--host|--input|--input-file|--interval|--jq|--latency|--limit|--matrix|--max-body|--max-credits|--model|--name|--out|--output|--path|--port|--profile|--public-url|--rate-limit-rate|--replay|--report|--run-id|--secret|--secret-file|--service-mode|--shard|--since|--speed|--status|--task-type|--template|--template-field|--timeout|--webhook|--webhook-secret|--world|-c|-d|-f|-i|-m|-n|-o|-p|-s|-t) i=$((i + 1)); continue ;;
            -*) continue ;;
        esac
        subs="$(_piapi_subcommands "$path")"
        case " $subs " in
            *" $w "*) path="${path:+$path }$w" ;;
        esac
    done
    case "$prev" in
        --model|-m) COMPREPLY=($(compgen -W "$_piapi_models" -- "$cur")); return ;;
        --task-type|-t) COMPREPLY=($(compgen -W "$(_piapi_task_types "$model")" -- "$cur")); return ;;
        --service-mode) COMPREPLY=($(compgen -W "public private" -- "$cur")); return ;;
        --category|-c) COMPREPLY=($(compgen -W "image video audio 3d" -- "$cur")); return ;;
        --input-file) COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null; return ;;
        --api-key|--attach|--backstop|--base-url|--batch|--by|--category|--compare-by|--concurrency|--dir|--download|--drop-rate|--events|--exec|--fail-rate|--forward-to|--from|--from-task|--host|--input|--input-file|--interval|--jq|--latency|--limit|--matrix|--max-body|--max-credits|--model|--name|--out|--output|--path|--port|--profile|--public-url|--rate-limit-rate|--replay|--report|--run-id|--secret|--secret-file|--service-mode|--shard|--since|--speed|--status|--task-type|--template|--template-field|--timeout|--webhook|--webhook-secret|--world|-c|-d|-f|-i|-m|-n|-o|-p|-s|-t) return ;;
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$(_piapi_options "$path")" -- "$cur"))
        return
    fi
    subs="$(_piapi_subcommands "$path")"
    if [ -n "$subs" ]; then
        COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    elif [ "$path" = models ]; then
        COMPREPLY=($(compgen -W "$_piapi_models" -- "$cur"))
    fi
}

complete -F _piapi piapi
